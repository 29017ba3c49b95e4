// The public API of trainrt for applications (installed as <trainrt/trainrt.h>; CMake:
// find_package(trainrt) and trainrt::trainrt; pkg-config: trainrt). docs/EMBEDDING.md walks
// through it; each header documents its part.
//
// Training in the application (app/training.h):
//   trainrt::Training          a config (file, text or TrainConfig) trained with callbacks
//                              (after each step, after each evaluation, on checkpoint) that can
//                              stop it; request_stop() from any thread
//   trainrt::train::*          what the callbacks see (StepInfo, EvalResult, CommittedCheckpoint)
// Inference (infer/):
//   trainrt::infer::Predictor  batched, thread-safe inference on a bundle (`trainrt export`), CPU or GPU
//   trainrt::infer::read_bundle, export_bundle
// Extending trainrt by name (also from plugins, trainrt/plugin.h):
//   trainrt::models::ModelRegistry          models (config's model.name)
//   trainrt::data::DatasetRegistry          data formats (data.format) for image classification
//   trainrt::data::TransformRegistry        sample transforms (data.transforms)
//   trainrt::load_plugin                    a plugin library, by path
// Configs (config/): trainrt::config::TrainConfig (the schema, trainrt.proto), load_config,
// parse_config_text, resolve_config, config_to_text.
// Errors: every function throws trainrt::Error (core/error.h; kind() says config, data, I/O,
// distributed or internal) with a message naming the file, field, rank or step.
#pragma once

#include "trainrt/app/training.h"
#include "trainrt/config/load.h"
#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/error.h"
#include "trainrt/core/plugin.h"
#include "trainrt/data/dataset.h"
#include "trainrt/data/format_registry.h"
#include "trainrt/data/transform_registry.h"
#include "trainrt/infer/bundle.h"
#include "trainrt/infer/predictor.h"
#include "trainrt/models/model.h"
#include "trainrt/models/registry.h"
#include "trainrt/train/trainer.h"
