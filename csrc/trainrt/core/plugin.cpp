#include "trainrt/core/plugin.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt {

void load_plugin(const std::string& path) {
  if (path.find('/') == std::string::npos) {
    throw ConfigError(fmt::format("plugin '{}': give its path ('./{}' or an absolute one); plugins are "
                                  "never searched for", path, path));
  }
  std::error_code error;
  const auto real = std::filesystem::canonical(path, error);
  if (error || !std::filesystem::is_regular_file(real)) {
    throw ConfigError(fmt::format("plugin {}: no such file", path));
  }
  // Loading and registering run under one lock: two threads loading the same plugin must not both
  // register its names.
  static std::mutex mutex;
  static std::set<std::string> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded.count(real.string())) return;
  void* library = dlopen(real.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) throw ConfigError(fmt::format("plugin {}: cannot load it: {}", path, dlerror()));
  auto* register_plugin = reinterpret_cast<void (*)()>(dlsym(library, kPluginEntryPoint));
  if (!register_plugin) {
    dlclose(library);
    throw ConfigError(fmt::format("plugin {}: has no {}() function (define it with TRAINRT_PLUGIN from "
                                  "trainrt/plugin.h)", path, kPluginEntryPoint));
  }
  try {
    register_plugin();
  } catch (const std::exception& e) {
    // Left loaded: what it registered before failing refers to its code.
    throw ConfigError(fmt::format("plugin {}: its registration failed: {}", path, e.what()));
  }
  loaded.insert(real.string());
}

void load_plugins(const std::vector<std::string>& paths) {
  for (const auto& path : paths) load_plugin(path);
}

void load_listed_plugins(const std::vector<std::string>& paths, PluginConsent consent, const std::string& source,
                         const std::string& how_to_consent) {
  if (paths.empty()) return;
  if (consent == PluginConsent::kRefuse) {
    const std::string more = paths.size() > 1 ? fmt::format(" (and {} more)", paths.size() - 1) : "";
    throw ConfigError(fmt::format("{}: names the plugin {}{}; loading a plugin runs its code in this process, "
                                  "so the plugins a file lists load only with the application's consent: {} "
                                  "for a file you trust",
                                  source, paths.front(), more, how_to_consent));
  }
  load_plugins(paths);
}

}  // namespace trainrt
