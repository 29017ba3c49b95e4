#!/usr/bin/python3
"""What the progress bar costs: the default config on a real terminal against a pipe.

    tools/bench/terminal.py [--steps 300] [--repeats 3] [--trainrt PATH]

Trains configs/fashion_mnist_cnn.pbtxt for --steps steps, alternating
  pipe:     stdout a pipe, so plain log lines (what CI and log files see);
  terminal: stdout a pseudo-terminal made by util-linux's `script`, so the redrawn progress bar
            (what a person running `tools/run train` sees);
and prints the median wall time and user CPU of each whole process and the ratio (goal: at most
1.02 - the display must cost nothing measurable). The step time in metrics.jsonl is compared too
(the first 50 steps, warm-up, left out). The terminal is only read by `script`, as a fast terminal
would be. The comparison is trainrt against itself: it is the interactive path's own benchmark.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "fashion_mnist_cnn.pbtxt")


def run(trainrt, workdir, name, steps, terminal):
    run_dir = os.path.join(workdir, name)
    command = [trainrt, "train", CONFIG, "--run-dir", run_dir, "--resume", "never",
               "--set", f"train.max_steps={steps}", "--set", "checkpoint.every_epoch=false",
               "--set", "checkpoint.at_end=false"]
    if terminal:  # `script -q -e -c CMD /dev/null`: CMD on a new pty, its exit status passed on
        command = ["script", "-qec", " ".join(command), "/dev/null"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    start = time.monotonic()
    out = subprocess.run(command, check=True, capture_output=True).stdout  # bytes: the bar's \r kept
    wall = time.monotonic() - start
    user = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    if terminal and b"\r\033[K[" not in out:
        sys.exit("the terminal run drew no progress bar: is util-linux's `script` installed?")
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    step = statistics.median(l["step_ms"] for l in lines if l["split"] == "train" and l["step"] > 50)
    return wall, user, step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trainrt", default=os.path.join(ROOT, "build", "bin", "trainrt"))
    args = parser.parse_args()
    if not os.path.exists(args.trainrt):
        sys.exit(f"{args.trainrt} is missing: run tools/run build first")
    results = {"pipe": [], "terminal": []}
    with tempfile.TemporaryDirectory(prefix="trainrt-terminal-bench-") as workdir:
        for i in range(args.repeats):
            for name in results:
                results[name].append(run(args.trainrt, workdir, f"{name}{i}", args.steps, name == "terminal"))
                wall, user, step = results[name][-1]
                print(f"repeat {i + 1} {name:>8}: {wall:.2f} s wall, {user:.2f} s user CPU, "
                      f"{step:.2f} ms/step", flush=True)
    med = {name: [statistics.median(r[k] for r in runs) for k in range(3)] for name, runs in results.items()}
    (pw, pu, ps), (tw, tu, ts) = med["pipe"], med["terminal"]
    print(f"\nmedian: pipe {pw:.2f} s wall / {pu:.2f} s user / {ps:.2f} ms per step; "
          f"terminal {tw:.2f} s / {tu:.2f} s / {ts:.2f} ms")
    print(f"ratio terminal/pipe: wall {tw / pw:.3f}, user CPU {tu / pu:.3f}, step {ts / ps:.3f} (goal <= 1.02)")


if __name__ == "__main__":
    main()
