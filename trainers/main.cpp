// The `trainrt` command-line program.
//
//   trainrt train CONFIG [--set a.b=c]... [--run-dir DIR] [--resume auto|never|PATH] [--accept-config-changes]
//                        [--plugin LIB]...
//                        [--init-weights FILE]
//   trainrt export --checkpoint PATH --out DIR
//   trainrt generate --checkpoint PATH --prompt TEXT [--tokens N --temperature T --top-k K --seed S]
//   trainrt ckpt inspect PATH
//   trainrt runs summary RUN_DIR
//   trainrt launch --nproc-per-node N [--nnodes M --node-rank I --master-addr A --master-port P]
//                  [--standalone] [--max-restarts R] [--recovery memory|restart] [--run-id ID] [--log-dir DIR] -- PROGRAM ARGS...
//
// Under a launcher (torchrun --no-python, srun, mpirun) each process is one data-parallel rank;
// see dist/worker_env.h for the variables read.
//
// Exit codes: 0 success, 2 bad command line or config, 1 any other failure (data, I/O, runtime),
// 128 + N when signal N (SIGTERM, SIGINT) stopped training after a checkpoint.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "checkpoint_commands.h"
#include "flight_command.h"
#include "generate.h"
#include "runs_summary.h"
#include "trainrt/app/training.h"
#include "trainrt/config/choices.h"
#include "trainrt/core/error.h"
#include "trainrt/core/version.h"
#include "trainrt/data/format_registry.h"
#include "trainrt/data/transform_registry.h"
#include "trainrt/dist/error_file.h"
#include "trainrt/dist/flight_report.h"
#include "trainrt/dist/flight_signal.h"
#include "trainrt/launch/launcher.h"
#include "trainrt/models/registry.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/optim/schedule.h"
#include "trainrt/tasks/language_model.h"
#include "trainrt/tasks/tasks.h"
#include "trainrt/train/stop_signals.h"
#include "trainrt/train/trainer.h"

namespace {

int train_command(const std::string& config_path, const std::vector<std::string>& overrides,
                  const std::vector<std::string>& plugins, const std::string& run_dir,
                  const std::string& resume, bool accept_config_changes, const std::string& initial_weights) {
  // Preemption (SIGTERM) or Ctrl-C ends training at a step boundary, after a checkpoint.
  trainrt::train::catch_stop_signals();
  // SIGUSR1 (`trainrt launch` forwards it to every worker) and a crash in a backend's thread:
  // each rank dumps its collectives.
  trainrt::dist::install_flight_dump_handlers();
  // Past a file-size limit (ulimit -f) a write should fail with EFBIG, reported like a full disk,
  // rather than kill the process.
  signal(SIGXFSZ, SIG_IGN);
  trainrt::TrainingOptions options;
  options.run_dir = run_dir;  // "": runs/<the config's name>
  options.resume = resume;
  options.accept_config_changes = accept_config_changes;
  options.stop_on_signal = true;
  options.plugins = plugins;
  options.initial_weights = initial_weights;
  auto training = trainrt::Training::from_file(config_path, overrides, options);
  const auto result = training.run();
  return result.stop_signal != 0 ? 128 + result.stop_signal : 0;
}

// The end of `trainrt train --help`: the names a config can pick, read from the registries (the
// built-in ones: --plugin libraries add theirs when training starts), and the closed choices with
// what each value means, read from config/choices.cpp.
std::string config_choices_help() {
  using namespace trainrt;
  std::string text = "\n\nNames a config picks (built in; plugins and applications register more):\n";
  auto names = [&](const char* field, const std::vector<std::string>& known, const std::string& more = "") {
    const std::string list = known.empty() ? "none built in" : fmt::format("{}", fmt::join(known, ", "));
    text += fmt::format("  {:<24}{}{}\n", field, list, more);
  };
  names("task", tasks::TaskRegistry::instance().names());
  names("model.name", models::ModelRegistry::instance().names());
  names("data.format", data::DatasetRegistry::instance().formats().names(),
        fmt::format(" (task image_classification); {} (task language_model)", tasks::kTokensFormat));
  names("data.transforms", data::TransformRegistry::instance().transforms().names());
  names("optimizer.name", optim::OptimizerRegistry::instance().names());
  names("schedule.name", optim::ScheduleRegistry::instance().names());
  text += "\nChoices:\n";
  for (const auto& field : config::closed_choices()) {
    text += fmt::format("  {}\n", field.field);
    for (const auto& choice : field.choices) text += fmt::format("    {:<10}{}\n", choice.value, choice.meaning);
  }
  return text;
}

// A failing worker tells its launcher why (torchrun's TORCHELASTIC_ERROR_FILE), then exits.
int fail(const std::string& error, int code) {
  std::string message = error;
  // A collective failed on the way here: its flight records were dumped; the lowest rank that
  // dumped adds the report, and every rank says where the records are.
  if (const auto receipt = trainrt::dist::last_flight_dump()) {
    // Live ranks fail within milliseconds of each other; one that left no dump by then will not.
    message += trainrt::dist::flight_epilogue(*receipt, std::chrono::milliseconds(500));
  }
  std::cerr << "trainrt: error: " << message << "\n";
  if (const char* path = std::getenv("TORCHELASTIC_ERROR_FILE")) {
    trainrt::dist::write_error_file(path, message);
  }
  return code;
}

// What the command line filled in, and the subcommand that holds each part: the variables must
// outlive the parse, so they live here, in main.
struct Commands {
  std::string config_path, run_dir, resume = "auto", trace_file, initial_weights;
  bool accept_config_changes = false;
  std::vector<std::string> overrides, plugins;
  CLI::App* train = nullptr;

  std::string checkpoint_path, export_out;
  CLI::App* export_app = nullptr;

  trainrt::trainers::GenerateOptions generate_options;
  CLI::App* generate = nullptr;

  std::string summary_dir;
  CLI::App* summary = nullptr;
  std::string flight_dir;
  int flight_last = 8;
  CLI::App* flight = nullptr;

  std::string inspect_path;
  CLI::App* inspect = nullptr;

  trainrt::launch::LaunchOptions launch_options;
  double stop_seconds = 10;
  CLI::App* launch = nullptr;
};

void add_train_command(CLI::App& app, Commands& c) {
  CLI::App* train = c.train = app.add_subcommand("train", "Train a model described by a config file");
  train->add_option("config", c.config_path, "Config file (.pbtxt text format, or .json)")
      ->required()
      ->check(CLI::ExistingFile);
  train->add_option("--set", c.overrides,
                    "Override a config field, e.g. --set data.batch_size=64 (repeatable; lists "
                    "as --set model.cnn.channels=16,32)")
      ->take_all()
      ->allow_extra_args(false);
  train->add_option("--run-dir", c.run_dir,
                    "Where the resolved config and metrics.jsonl go (default: runs/<the config's name field>)");
  train->add_option("--resume", c.resume,
                    "auto: continue from the newest whole checkpoint in the run directory, if any "
                    "(default); never: start afresh; PATH: that checkpoint (or the newest in that "
                    "directory), accepting a config that differs from its own");
  train->add_flag("--accept-config-changes", c.accept_config_changes,
                  "Continue a checkpoint whose config differs from this run's in what training computes "
                  "(learning rate, model, data, ...): refused otherwise, since it may be another job's. "
                  "Each change is recorded in metrics.jsonl (split config_change)");
  train->add_option("--plugin", c.plugins,
                    "Load this shared library first: it registers models, data formats or transforms "
                    "(a path: ./libx.so or absolute; repeatable; recorded in the run's config)");
  train->add_option("--init-weights", c.initial_weights,
                    "Start from this state dict (a checkpoint's model.pt, a bundle's weights.pt) when "
                    "no checkpoint is resumed: fine-tuning");
  train->add_option("--trace", c.trace_file,
                    "Write a Chrome trace (chrome://tracing, Perfetto) of every rank's threads over "
                    "steps observe.trace_first_step.. (+observe.trace_steps) to this file");
  train->footer(
      "\nThe run directory gets config.pbtxt (the resolved config, every default explicit), "
      "metrics.jsonl (one JSON object per line: split, step, epoch, loss, lr, samples_per_sec, "
      "grad_norm and the step-time breakdown; accuracy on eval lines), TensorBoard event files "
      "(tensorboard --logdir RUN_DIR) and checkpoints/ (config section `checkpoint`). "
      "SIGTERM or SIGINT stops training at the next step boundary after writing a checkpoint "
      "(exit code 128 + signal). See configs/ and the README." + config_choices_help());
}

void add_export_command(CLI::App& app, Commands& c) {
  CLI::App* export_app = c.export_app =
      app.add_subcommand("export", "Write an inference bundle of a checkpoint's model (a TorchScript model is "
                                   "rebuilt with the plugins the checkpoint's config lists, as train loads them)");
  export_app->add_option("--checkpoint", c.checkpoint_path,
                         "A checkpoint directory, or a run directory (its newest whole checkpoint)")
      ->required();
  export_app->add_option("--out", c.export_out,
                         "The bundle directory to create: bundle.json, config.pbtxt, weights.pt "
                         "(Python: torch.load), model.ts for TorchScript models (torch.jit.load)")
      ->required();
}

void add_generate_command(CLI::App& app, Commands& c) {
  trainrt::trainers::GenerateOptions& generate_options = c.generate_options;
  CLI::App* generate = c.generate =
      app.add_subcommand("generate", "Sample text from a trained language model (loading the plugins its "
                                     "checkpoint's config lists, as train does)");
  generate->add_option("--checkpoint", generate_options.checkpoint,
                       "A checkpoint directory, or a run directory (its newest whole checkpoint)")
      ->required();
  generate->add_option("--prompt", generate_options.prompt, "The text to continue");
  generate->add_option("--tokens", generate_options.tokens, "Tokens (bytes) to generate")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  generate->add_option("--temperature", generate_options.temperature,
                       "Softmax temperature (0: always the most likely token)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  generate->add_option("--top-k", generate_options.top_k, "Sample among the k most likely tokens (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  generate->add_option("--seed", generate_options.seed, "Seed of the draws (same seed, same text)")
      ->capture_default_str();
}

void add_runs_command(CLI::App& app, Commands& c) {
  CLI::App* runs = app.add_subcommand("runs", "Run directory tools");
  runs->require_subcommand(1);
  CLI::App* summary = c.summary =
      runs->add_subcommand("summary", "Print a run's final metrics and step-time breakdown");
  summary->add_option("run_dir", c.summary_dir, "A run directory (holding metrics.jsonl)")->required();
}

void add_flight_command(CLI::App& app, Commands& c) {
  c.flight = app.add_subcommand(
      "flight", "Say why a data-parallel job hung or failed, from the ranks' flight recorder dumps");
  c.flight->add_option("run_dir", c.flight_dir, "A run directory (its flight/ folder holds the dumps)")->required();
  c.flight->add_option("--last", c.flight_last, "Collectives listed per rank (default 8)");
}

void add_ckpt_command(CLI::App& app, Commands& c) {
  CLI::App* ckpt = app.add_subcommand("ckpt", "Checkpoint tools");
  ckpt->require_subcommand(1);
  CLI::App* inspect = c.inspect =
      ckpt->add_subcommand("inspect", "Print a checkpoint's manifest and train state");
  inspect->add_option("path", c.inspect_path,
                      "A checkpoint directory, or a run directory (lists its checkpoints)")
      ->required();
}

void add_launch_options(CLI::App& launch, trainrt::launch::LaunchOptions& o, double& stop_seconds) {
  // torchrun's spellings with underscores are accepted too.
  launch.add_option("--nproc-per-node,--nproc_per_node", o.nproc_per_node, "Workers on this node")
      ->required();
  launch.add_option_function<std::string>(
      "--nnodes",
      [&o](const std::string& text) {
        // torchrun's spelling: N, or MIN:MAX for an elastic job that goes on with MIN nodes.
        const auto colon = text.find(':');
        try {
          o.nnodes = std::stoi(text.substr(colon == std::string::npos ? 0 : colon + 1));
          o.min_nnodes = colon == std::string::npos ? o.nnodes : std::stoi(text.substr(0, colon));
        } catch (const std::exception&) {
          throw CLI::ValidationError("--nnodes", "'" + text + "' is not N or MIN:MAX");
        }
      },
      "Nodes in the job (default 1), or MIN:MAX: with --recovery memory the job goes on while at "
      "least MIN nodes are left");
  launch.add_option("--node-rank,--node_rank", o.node_rank, "This node's rank, 0..nnodes-1");
  launch.add_option("--master-addr,--master_addr", o.master_addr,
                    "Address of node 0, where the rendezvous store listens (default 127.0.0.1)");
  launch.add_option("--master-port,--master_port", o.master_port, "Its port (default 29500)");
  launch.add_flag("--standalone", o.standalone, "One node: pick a free port for the store");
  launch.add_option("--max-restarts,--max_restarts", o.max_restarts,
                    "Workers restarted after failures (default 0): with --recovery memory each "
                    "failed worker is replaced alone; with restart, the whole group restarts");
  launch.add_option("--recovery", o.recovery,
                    "memory (default): the other workers keep training and hand their state to the "
                    "failed one's replacement; restart: every worker restarts from the newest "
                    "checkpoint")
      ->check(CLI::IsMember({"memory", "restart"}));
  launch.add_option("--spares", o.spares,
                    "Spare workers per node for --recovery memory: each loads its data and waits to "
                    "take a failed worker's rank at once (default: 1 if --max-restarts allows any)");
  launch.add_option("--run-id,--run_id", o.run_id, "Job id passed to the workers (TORCHELASTIC_RUN_ID)");
  launch.add_option("--log-dir,--log_dir", o.log_dir, "Also write each rank's output to DIR/rank_N.log");
  launch.add_option("--stop-timeout", stop_seconds,
                    "Seconds between SIGTERM and SIGKILL when stopping workers (default 10)");
  launch.footer(
      "\nStarts the workers with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, "
      "MASTER_PORT, TORCHELASTIC_*), hosts the rendezvous store on node 0, prefixes their output "
      "with [rank N], forwards SIGINT/SIGTERM, replaces a failed worker (or restarts the group, "
      "--recovery restart) while --max-restarts allow, and exits with the failed worker's status. "
      "Example:\n"
      "  trainrt launch --standalone --nproc-per-node 2 -- trainrt train configs/fashion_mnist_cnn.pbtxt");
}


void add_launch_command(CLI::App& app, Commands& c) {
  c.launch = app.add_subcommand("launch", "Start data-parallel workers (like torchrun)");
  add_launch_options(*c.launch, c.launch_options, c.stop_seconds);
}

// The arguments for CLI11 (reversed, as it takes them). `launch`'s program and its arguments
// follow "--" and are not the launcher's to parse: they go to `program`.
std::vector<std::string> cli_arguments(int argc, char** argv, std::vector<std::string>& program) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args.front() == "launch") {
    const auto separator = std::find(args.begin(), args.end(), "--");
    if (separator != args.end()) {
      program.assign(separator + 1, args.end());
      args.erase(separator, args.end());
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  return args;
}

// Runs the subcommand the command line chose; errors propagate to main.
int run_command(Commands& c) {
  if (*c.train) {
    if (!c.trace_file.empty()) c.overrides.push_back("observe.trace_file=" + c.trace_file);
    return train_command(c.config_path, c.overrides, c.plugins, c.run_dir, c.resume, c.accept_config_changes,
                         c.initial_weights);
  }
  if (*c.summary) return trainrt::trainers::runs_summary_command(c.summary_dir);
  if (*c.flight) return trainrt::trainers::flight_command(c.flight_dir, c.flight_last);
  if (*c.export_app) return trainrt::trainers::export_command(c.checkpoint_path, c.export_out);
  if (*c.generate) return trainrt::trainers::generate_command(c.generate_options);
  if (*c.inspect) return trainrt::trainers::inspect_command(c.inspect_path);
  if (*c.launch) {
    c.launch_options.stop_grace = std::chrono::milliseconds(static_cast<int64_t>(c.stop_seconds * 1000));
    return trainrt::launch::launch(c.launch_options);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trainrt: a C++ training runtime on LibTorch"};
  app.set_version_flag("--version", std::string("trainrt ") + trainrt::kVersion);
  app.require_subcommand(1);

  Commands commands;
  add_train_command(app, commands);
  add_export_command(app, commands);
  add_generate_command(app, commands);
  add_runs_command(app, commands);
  add_ckpt_command(app, commands);
  add_flight_command(app, commands);
  add_launch_command(app, commands);

  std::vector<std::string> args = cli_arguments(argc, argv, commands.launch_options.program);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    return run_command(commands);
  } catch (const trainrt::Error& e) {
    return fail(e.what(), e.kind() == trainrt::Error::Kind::kConfig ? 2 : 1);
  } catch (const c10::Error& e) {
    return fail(e.what_without_backtrace(), 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
