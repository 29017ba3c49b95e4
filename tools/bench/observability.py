#!/usr/bin/python3
"""What observability costs a step: the default config with everything on against everything off.

    tools/bench/observability.py [--steps 300] [--repeats 3]

Trains configs/fashion_mnist_cnn.pbtxt for --steps steps (train.log_every_steps 10), alternating
  off: observe.tensorboard false, no trace;
  on:  TensorBoard event files, per-rank scalars, and a Chrome trace of every step;
and prints the median step time of each (the first 50 steps, warm-up, left out) and the ratio
(goal: at most 1.02). The step-time breakdown is measured in both (it is never off). PyTorch has no
counterpart here that runs on this machine (its SummaryWriter needs the tensorboard package, which
Debian 12 lacks), so the comparison is trainrt against itself.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINRT = os.path.join(ROOT, "build", "bin", "trainrt")
CONFIG = os.path.join(ROOT, "configs", "fashion_mnist_cnn.pbtxt")


def step_ms(workdir, name, steps, extra):
    run_dir = os.path.join(workdir, name)
    subprocess.run([TRAINRT, "train", CONFIG, "--run-dir", run_dir, "--resume", "never",
                    "--set", f"train.max_steps={steps}", "--set", "train.log_every_steps=10",
                    "--set", "checkpoint.every_epoch=false", "--set", "checkpoint.at_end=false"] + extra,
                   check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    return statistics.median(l["step_ms"] for l in lines if l["split"] == "train" and l["step"] > 50)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(TRAINRT):
        sys.exit(f"{TRAINRT} is missing: run tools/run build first")
    off, on = [], []
    with tempfile.TemporaryDirectory(prefix="trainrt-obs-bench-") as workdir:
        for i in range(args.repeats):
            off.append(step_ms(workdir, f"off{i}", args.steps, ["--set", "observe.tensorboard=false"]))
            on.append(step_ms(workdir, f"on{i}", args.steps,
                              ["--set", "observe.per_rank_scalars=true", "--trace", os.path.join(workdir, "t.json"),
                               "--set", "observe.trace_first_step=1", "--set", f"observe.trace_steps={args.steps}"]))
            print(f"repeat {i + 1}: off {off[-1]:.2f} ms/step, on {on[-1]:.2f} ms/step", flush=True)
    a, b = statistics.median(off), statistics.median(on)
    print(f"\nmedian step: everything off {a:.2f} ms, everything on {b:.2f} ms, ratio {b / a:.3f} (goal <= 1.02)")


if __name__ == "__main__":
    main()
