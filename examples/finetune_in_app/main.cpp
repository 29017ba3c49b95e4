// Fine-tunes a Fashion-MNIST classifier inside an application: the config is built in code, the
// model starts from a bundle's weights (optional), a callback watches each evaluation and stops
// training once the accuracy reaches a target, another counts steps, and one reports checkpoints.
//
//   finetune_in_app RUN_DIR TARGET_ACCURACY [BUNDLE] [DATA_DIR]
//
// Exit code 0 when the target was reached (training stopped early), 3 when training ended first.
#include <cstdlib>
#include <iostream>

#include <trainrt/trainrt.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: finetune_in_app RUN_DIR TARGET_ACCURACY [BUNDLE] [DATA_DIR]\n";
    return 2;
  }
  const std::string run_dir = argv[1];
  const double target = std::atof(argv[2]);
  const std::string bundle = argc > 3 ? argv[3] : "";
  try {
    trainrt::config::TrainConfig config;
    if (!bundle.empty()) {
      // The same model as the bundle's, so that its weights fit.
      *config.mutable_model() = trainrt::infer::read_bundle(bundle).config.model();
    } else {
      config.mutable_model()->set_name("mlp");
    }
    auto* data = config.mutable_data();
    if (argc > 4) data->set_dir(argv[4]);
    data->set_train_limit(6000);
    data->set_eval_limit(1000);
    data->set_batch_size(64);
    config.mutable_optimizer()->set_name("adamw");
    config.mutable_optimizer()->set_lr(bundle.empty() ? 2e-3 : 5e-4);
    config.mutable_train()->set_epochs(5);
    config.mutable_train()->set_eval_every_steps(20);
    config.mutable_train()->set_log_every_steps(20);
    config.mutable_checkpoint()->set_every_steps(40);

    trainrt::TrainingOptions options;
    options.run_dir = run_dir;
    options.resume = "never";
    if (!bundle.empty()) options.initial_weights = bundle + "/weights.pt";
    trainrt::Training training(config, options);

    int64_t steps_seen = 0;
    double first_accuracy = -1;
    training.after_step([&](const trainrt::train::StepInfo& step) {
      steps_seen = step.step;
      return trainrt::train::Action::kContinue;
    });
    training.after_evaluation([&](int64_t step, const trainrt::train::EvalResult& eval) {
      if (first_accuracy < 0) first_accuracy = eval.accuracy;
      std::cout << "app: step " << step << " accuracy " << eval.accuracy << "\n";
      return eval.accuracy >= target ? trainrt::train::Action::kStop : trainrt::train::Action::kContinue;
    });
    training.on_checkpoint([](const trainrt::train::CommittedCheckpoint& checkpoint) {
      std::cout << "app: checkpoint of step " << checkpoint.step << " at " << checkpoint.path << "\n";
    });
    const trainrt::train::TrainResult result = training.run();
    std::cout << "app: first evaluation accuracy " << first_accuracy << "\n";
    std::cout << "app: callbacks saw " << steps_seen << " steps; training "
              << (result.stop_requested ? "stopped early" : "ran to the end") << " at step " << result.steps
              << " with accuracy " << result.eval.accuracy << "\n";
    return result.stop_requested ? 0 : 3;
  } catch (const std::exception& e) {
    std::cerr << "finetune_in_app: error: " << e.what() << "\n";
    return 1;
  }
}
