#!/usr/bin/python3
"""Epoch time of trainrt against PyTorch on the default config, side by side in one run.

    tools/bench/epoch_time.py [--epochs 2] [--threads 2]

Trains configs/fashion_mnist_cnn.pbtxt with build/bin/trainrt, then the same model, data, batch,
optimizer, schedule and thread count from Python (tools/bench/peers/fashion_mnist_cnn.py, Debian's
python3-torch) with DataLoader workers 0 and 1, and once more with glibc's allocator tuned the way
trainrt tunes it (so the table shows how much of the gap that alone explains). Prints the best epoch
of each and the ratio trainrt / PyTorch (< 1: trainrt is faster).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINRT = os.path.join(ROOT, "build", "bin", "trainrt")
PEER = os.path.join(ROOT, "tools", "bench", "peers", "fashion_mnist_cnn.py")
# What trainrt's configure_process_runtime() does with mallopt, as glibc tunables.
TUNED_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=18446744073709551615"


def run_trainrt(epochs, threads):
    with tempfile.TemporaryDirectory() as run_dir:
        subprocess.run([TRAINRT, "train", os.path.join(ROOT, "configs", "fashion_mnist_cnn.pbtxt"),
                        "--run-dir", run_dir, "--set", f"train.epochs={epochs}",
                        "--set", f"runtime.threads={threads}", "--set", "data.loader.threads=1"],
                       check=True, stdout=subprocess.DEVNULL)
        lines = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
        evals = [e for e in lines if e["split"] == "eval"]
        trains = [t for t in lines if t["split"] == "train" and "step_ms" in t]
        wait_share = sum(t["data_wait_ms"] for t in trains) / sum(t["step_ms"] for t in trains)
        return {"epoch_seconds": [e["epoch_seconds"] for e in evals], "accuracy": evals[-1]["accuracy"],
                "data_wait_share": wait_share}


def run_peer(epochs, threads, workers, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    out = subprocess.run(["/usr/bin/python3", PEER, "--epochs", str(epochs), "--threads", str(threads),
                          "--workers", str(workers)], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(TRAINRT):
        sys.exit(f"{TRAINRT} is missing: run tools/run build first")

    rows = []
    def measure(name, fn):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        result = fn()
        rows.append((name, min(result["epoch_seconds"]), result["accuracy"]))

    trainrt_result = {}
    def trainrt():
        trainrt_result.update(run_trainrt(args.epochs, args.threads))
        return trainrt_result
    measure("trainrt (1 loader thread)", trainrt)
    measure("PyTorch, DataLoader workers=0", lambda: run_peer(args.epochs, args.threads, 0))
    measure("PyTorch, DataLoader workers=1", lambda: run_peer(args.epochs, args.threads, 1))
    measure("PyTorch, workers=0, malloc tuned like trainrt",
            lambda: run_peer(args.epochs, args.threads, 0, {"GLIBC_TUNABLES": TUNED_MALLOC}))

    trainrt_s = rows[0][1]
    best_plain = min(r[1] for r in rows[1:3])
    print(f"\nFashion-MNIST CNN, batch 128, {args.threads} compute threads, best of {args.epochs} epochs")
    print(f"{'run':48} {'epoch s':>8} {'accuracy':>9} {'trainrt/this':>13}")
    for name, seconds, accuracy in rows:
        print(f"{name:48} {seconds:8.2f} {accuracy:9.4f} {trainrt_s / seconds:13.2f}")
    print(f"\nratio trainrt / PyTorch (best untuned peer): {trainrt_s / best_plain:.2f} (goal <= 0.80)")
    print(f"trainrt's steps waited for data {100 * trainrt_result['data_wait_share']:.2f}% of the time "
          f"(goal < 2%)")


if __name__ == "__main__":
    main()
