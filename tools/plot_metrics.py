#!/usr/bin/python3
"""Plots a run's metrics.jsonl to a PNG, for people without TensorBoard.

    tools/plot_metrics.py RUN_DIR [--out RUN_DIR/metrics.png]

Four panels over optimizer steps: train and eval loss, eval accuracy, learning rate, and where a
step's time went (data wait, compute, exposed communication, optimizer, checkpoint). Needs
matplotlib (python3-matplotlib, which tools/setup installs).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402


def read_lines(path):
    lines = []
    with open(path) as f:
        for number, text in enumerate(f, 1):
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                print(f"{path}:{number}: not JSON, skipped", file=sys.stderr)
    return lines


def series(lines, split, key):
    points = [(l["step"], l[key]) for l in lines if l.get("split") == split and key in l]
    return [p[0] for p in points], [p[1] for p in points]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--out", help="PNG to write (default: RUN_DIR/metrics.png)")
    args = parser.parse_args()
    path = os.path.join(args.run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        sys.exit(f"plot_metrics: {path} does not exist")
    lines = read_lines(path)
    if not any(l.get("split") == "train" for l in lines):
        sys.exit(f"plot_metrics: {path} has no train lines")

    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    loss, accuracy, lr, times = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    loss.plot(*series(lines, "train", "loss"), label="train")
    loss.plot(*series(lines, "eval", "loss"), "o-", label="eval")
    loss.set_title("loss")
    loss.legend()
    accuracy.plot(*series(lines, "eval", "accuracy"), "o-")
    accuracy.set_title("eval accuracy")
    lr.plot(*series(lines, "train", "lr"))
    lr.set_title("learning rate")
    for key, label in [("data_wait_ms", "data wait"), ("compute_ms", "compute"),
                       ("exposed_allreduce_ms", "exposed communication"), ("optimizer_ms", "optimizer"),
                       ("checkpoint_ms", "checkpoint")]:
        steps, values = series(lines, "train", key)
        if steps:
            times.plot(steps, values, label=label)
    times.set_title("ms per step")
    times.legend()
    for ax in (loss, accuracy, lr, times):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    figure.suptitle(args.run_dir)
    figure.tight_layout()
    out = args.out or os.path.join(args.run_dir, "metrics.png")
    figure.savefig(out, dpi=100)
    print(f"plot_metrics: wrote {out}")


if __name__ == "__main__":
    main()
