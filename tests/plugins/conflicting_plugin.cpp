// A plugin whose registration fails: "mlp" is a built-in model's name.
#include <trainrt/plugin.h>

TRAINRT_PLUGIN() {
  trainrt::models::ModelRegistry::instance().add(
      "mlp", [](const trainrt::config::ModelConfig&, const trainrt::models::ModelSpec&) {
        return std::shared_ptr<trainrt::models::Model>();
      });
}
