// defines: load_plugin, load_plugins, kPluginEntryPoint
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

}  // namespace trainrt
