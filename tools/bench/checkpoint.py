#!/usr/bin/python3
"""trainrt's checkpoints against PyTorch's torch.save / torch.load, side by side in one run.

    tools/bench/checkpoint.py [--layers 7] [--width 4096] [--steps 36] [--every 6] [--dir DIR]

An MLP of about 100M parameters (7 hidden layers of 4096 on Fashion-MNIST) trained with SGD
momentum by `trainrt train`, three times: without checkpoints, with synchronous checkpoints, and
with the default asynchronous ones, a checkpoint every --every steps. Reports
  - the synchronous save time (what training waits for: capture, serialise, CRC, write, fsync,
    rename), the median over the run's checkpoints, against torch.save of the same model and
    optimizer state with fsync, the median of 5, each into a new file as a run's checkpoints are
    (the time of a save depends on the page cache's state: medians on both sides);
  - the training stall of an asynchronous save (the host copy of the buffers at the step boundary,
    and the wait before the next optimizer step for the writer thread's copy of the parameters and
    optimizer state), and its ratio to the synchronous time (goal: under 10%);
  - each run's training time, i.e. what checkpointing costs a run in total;
  - the write throughput (checkpoint bytes / synchronous save time) against the disk's own
    (`dd ... conv=fsync` in the same directory, same run);
  - the time to resume (read, verify, load), against torch.load + load_state_dict.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINRT = os.path.join(ROOT, "build", "bin", "trainrt")
PEER = os.path.join(ROOT, "tools", "bench", "peers", "checkpoint_torch.py")


def config(hidden, steps):
    return (f"seed: 1\n"
            f"model {{ name: 'mlp' mlp {{ hidden: [{', '.join(map(str, hidden))}] }} }}\n"
            f"data {{ train_limit: 4096 eval_limit: 512 batch_size: 8 }}\n"
            f"optimizer {{ name: 'sgd' lr: 0.001 momentum: 0.9 nesterov: false }}\n"
            f"schedule {{ name: 'constant' }}\n"
            f"train {{ epochs: 1 max_steps: {steps} log_every_steps: 1 }}\n")


def train(workdir, name, extra):
    run_dir = os.path.join(workdir, name)
    out = subprocess.run([TRAINRT, "train", os.path.join(workdir, "job.pbtxt"), "--run-dir", run_dir,
                          "--resume", "never"] + extra, check=True, capture_output=True, text=True)
    lines = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    return run_dir, lines, out.stdout


def train_seconds(lines):
    # Sum of the step times (ms each); evaluation and start-up are not training.
    return sum(line["step_ms"] for line in lines if line["split"] == "train") / 1000.0


def held_per_checkpoint(lines, steps):
    """Seconds training was held up by one checkpoint, the median over the run's checkpoints: the
    capture at the step boundary (the train line of its step) and, for an asynchronous one, the wait
    before the next optimizer step for the copy of the parameters (the next step's line); a
    synchronous one is all in the first. The checkpoint at the last step has no next step, so only
    those before it count."""
    held_ms = {l["step"]: l["checkpoint_ms"] for l in lines if l["split"] == "train"}
    counted = [l["step"] for l in lines if l["split"] == "checkpoint" and l["step"] < steps]
    return statistics.median(held_ms.get(s, 0) + held_ms.get(s + 1, 0) for s in counted) / 1000.0


def checkpoint_bytes(run_dir):
    path = os.path.join(run_dir, "checkpoints")
    newest = sorted(d for d in os.listdir(path) if d.startswith("step-"))[-1]
    return sum(os.path.getsize(os.path.join(path, newest, f)) for f in os.listdir(os.path.join(path, newest)))


def dd_throughput(workdir, megabytes):
    target = os.path.join(workdir, "dd.test")
    out = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=4M", f"count={megabytes // 4}",
                          "conv=fsync"], check=True, capture_output=True, text=True)
    os.remove(target)
    match = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", out.stderr)
    return int(match.group(1)) / float(match.group(2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=7)
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=36)
    parser.add_argument("--every", type=int, default=6)
    parser.add_argument("--dir", default=None, help="where checkpoints go (default: a temp dir under /tmp)")
    args = parser.parse_args()
    if not os.path.exists(TRAINRT):
        sys.exit(f"{TRAINRT} is missing: run tools/run build first")
    workdir = tempfile.mkdtemp(prefix="trainrt-ckpt-bench-", dir=args.dir)
    try:
        hidden = [args.width] * args.layers
        with open(os.path.join(workdir, "job.pbtxt"), "w") as f:
            f.write(config(hidden, args.steps))
        policy = ["--set", f"checkpoint.every_steps={args.every}", "--set", "checkpoint.every_epoch=false",
                  "--set", "checkpoint.at_end=false", "--set", "checkpoint.keep_last=2"]
        _, none_lines, _ = train(workdir, "none", ["--set", "checkpoint.every_epoch=false",
                                                   "--set", "checkpoint.at_end=false"])
        sync_dir, sync_lines, _ = train(workdir, "sync", policy + ["--set", "checkpoint.async=false"])
        _, async_lines, _ = train(workdir, "async", policy)
        sync_stall = held_per_checkpoint(sync_lines, args.steps)
        async_stall = held_per_checkpoint(async_lines, args.steps)
        size = checkpoint_bytes(sync_dir)

        # Resume: a new process continues the synchronous run from its newest checkpoint.
        resumed = subprocess.run([TRAINRT, "train", os.path.join(workdir, "job.pbtxt"), "--run-dir", sync_dir,
                                  "--set", f"train.max_steps={args.steps}"] + policy,
                                 check=True, capture_output=True, text=True).stdout
        resume_seconds = float(re.search(r"read and loaded in ([\d.]+) s", resumed).group(1))

        peer = json.loads(subprocess.run(["/usr/bin/python3", PEER, "--dir", workdir, "--hidden"] +
                                         [str(h) for h in hidden], check=True, capture_output=True,
                                         text=True).stdout.strip().splitlines()[-1])
        disk = dd_throughput(workdir, max(256, size // (1 << 20)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    mb = 1 << 20
    print(f"model: {peer['parameters'] / 1e6:.1f}M parameters; checkpoint {size / mb:.0f} MiB "
          f"(torch.save: {peer['bytes'] / mb:.0f} MiB); a checkpoint every {args.every} of {args.steps} steps")
    print(f"synchronous save:  trainrt {sync_stall:.2f} s   torch.save {peer['save_seconds']:.2f} s   "
          f"ratio {sync_stall / peer['save_seconds']:.2f}")
    print(f"async save stall:  trainrt {async_stall * 1000:.0f} ms = {100 * async_stall / sync_stall:.1f}% "
          f"of the synchronous save (goal < 10%)")
    print(f"training time:     no checkpoints {train_seconds(none_lines):.1f} s   synchronous "
          f"{train_seconds(sync_lines):.1f} s   asynchronous {train_seconds(async_lines):.1f} s")
    print(f"write throughput:  trainrt {size / sync_stall / mb:.0f} MiB/s   dd conv=fsync {disk / mb:.0f} MiB/s   "
          f"ratio {size / sync_stall / disk:.2f}")
    print(f"resume:            trainrt {resume_seconds:.2f} s   torch.load + load_state_dict "
          f"{peer['load_seconds']:.2f} s   ratio {resume_seconds / peer['load_seconds']:.2f}")


if __name__ == "__main__":
    main()
