// defines: TRAINRT_PLUGIN
//
// A plugin is a shared library that links trainrt and registers what it brings when trainrt loads
// it (`trainrt train --plugin ./libmine.so`, config's `plugins`, core/plugin.h):
//
//   #include <trainrt/plugin.h>
//   TRAINRT_PLUGIN() {
//     trainrt::models::ModelRegistry::instance().add("my_net", make_my_net);
//   }
#pragma once

#include "trainrt/core/plugin.h"
#include "trainrt/data/format_registry.h"
#include "trainrt/data/transform_registry.h"
#include "trainrt/models/registry.h"

// Defines the function trainrt calls once after loading the plugin (core/plugin.h
// kPluginEntryPoint). An exception thrown from it fails the load with its message.
#define TRAINRT_PLUGIN() extern "C" __attribute__((visibility("default"))) void trainrt_plugin_register()
