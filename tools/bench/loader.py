#!/usr/bin/python3
"""trainrt's loader against torch.utils.data.DataLoader, side by side in one run.

    tools/bench/loader.py [--epochs 2]

Both load Fashion-MNIST's 60,000 training images with random crop (padding 2), horizontal flip and
normalisation into shuffled batches of 128, at 0, 1 and 2 workers (DataLoader worker processes;
trainrt loader threads, 0 meaning the caller's thread). Prints samples/s and peak RSS of each and
the ratio trainrt / best PyTorch at the same count (goal: >= 10x).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "build", "bin", "trainrt_bench_loader")
PEER = os.path.join(ROOT, "tools", "bench", "peers", "loader_dataloader.py")


def run(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(BENCH):
        sys.exit(f"{BENCH} is missing: run tools/run build first")
    print(f"{'workers':>7} {'trainrt samples/s':>18} {'RSS MB':>7} {'PyTorch samples/s':>18} "
          f"{'RSS MB':>7} {'ratio':>7}")
    best_pytorch = 0.0
    for workers in (0, 1, 2):
        mine = run([BENCH, "--threads", str(workers), "--epochs", str(args.epochs)])
        peer = run(["/usr/bin/python3", PEER, "--workers", str(workers), "--epochs", "1"])
        best_pytorch = max(best_pytorch, peer["samples_per_sec"])
        print(f"{workers:>7} {mine['samples_per_sec']:>18.0f} {mine['peak_rss_mb']:>7.0f} "
              f"{peer['samples_per_sec']:>18.0f} {peer['peak_rss_mb']:>7.0f} "
              f"{mine['samples_per_sec'] / peer['samples_per_sec']:>6.1f}x", flush=True)
    print(f"\nPyTorch's best: {best_pytorch:.0f} samples/s")
    norm = run([BENCH, "--normalize"])
    print(f"normalising a batch of 128: one-pass loop {norm['loop_us']:.1f} us, ATen "
          f"{norm['aten_us']:.1f} us (max difference {norm['max_difference']:.1e})")


if __name__ == "__main__":
    main()
