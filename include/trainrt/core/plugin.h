// defines: load_plugin, load_plugins, PluginConsent, load_listed_plugins, kPluginEntryPoint
//
// Plugins: shared libraries that register models, data formats or sample transforms when loaded
// (config's `plugins`, `trainrt train --plugin`). A plugin defines its registration function with
// TRAINRT_PLUGIN (trainrt/plugin.h) and links libtrainrt, whose registries it then shares with
// the program. Only a path given explicitly is loaded: a bare name ("libx.so") is refused rather
// than searched for in the library path.
#pragma once

#include <string>
#include <vector>

namespace trainrt {

inline constexpr const char* kPluginEntryPoint = "trainrt_plugin_register";

// Loads the plugin at `path` and runs its registration, once per file (loading it again does
// nothing). Throws ConfigError naming `path` and what failed: a bare name, a missing file, a library
// that does not load (the loader's reason), no kPluginEntryPoint, or a registration that threw.
void load_plugin(const std::string& path);
void load_plugins(const std::vector<std::string>& paths);

// Note [plugins need the application's consent]: a file trainrt reads may list plugins (a bundle's or
// a checkpoint's config.pbtxt), and loading one runs its code in this process. So such a list is
// loaded only where the application said so: PredictorOptions::load_plugins, the `plugins` argument
// of infer::export_bundle and load_bundle_model, off by default. The program decides for its own
// commands (`trainrt export` and `generate` load a checkpoint's plugins, as `trainrt train` loads
// its config's: the files named on its command line are the user's own).
enum class PluginConsent { kRefuse, kLoad };

// load_plugins(`paths`), the list of the file `source`, with kLoad. With kRefuse and a list that is not
// empty, throws ConfigError before opening any: it names `source`, the first plugin, and
// `how_to_consent` (what the caller offers the application, e.g. "PredictorOptions::load_plugins").
void load_listed_plugins(const std::vector<std::string>& paths, PluginConsent consent, const std::string& source,
                         const std::string& how_to_consent);

}  // namespace trainrt
