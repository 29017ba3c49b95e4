#!/usr/bin/python3
"""Data-parallel step time of trainrt against PyTorch DDP, side by side in one run.

    tools/bench/ddp.py [--nproc 2] [--steps 200]

Both launched by the real torchrun (Debian's python3-torch) with --nproc processes on this machine,
Gloo, the default CNN config (batch 128 per rank), one compute thread per process:
  1. `trainrt train configs/fashion_mnist_cnn.pbtxt` (torchrun --no_python): step_ms from rank 0's
     metrics.jsonl after the first log interval, and the all-reduce time the backward pass did not
     hide (exposed_allreduce_ms) against the whole all-reduce time (allreduce_ms);
  2. tools/bench/peers/ddp_fashion_mnist_cnn.py: DistributedDataParallel, same model and data;
     once as is and once with glibc's allocator tuned the way trainrt tunes it (epoch_time.py
     explains why that matters), the ratio taken against the untuned one;
  3. trainrt_bench_allreduce (the reducer's whole path on the CNN's gradients, default buckets)
     against tools/bench/peers/gloo_allreduce.py (one bare Gloo all-reduce of the same bytes from
     Python), alternated, median of 5.
Prints a table and the two ratios (goals: step time <= 0.8x, bus bandwidth >= 0.9x).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "bin")
PEERS = os.path.join(ROOT, "tools", "bench", "peers")
CONFIG = os.path.join(ROOT, "configs", "fashion_mnist_cnn.pbtxt")
# What trainrt's configure_process_runtime() does with mallopt, as glibc tunables.
TUNED_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=18446744073709551615"


def torchrun(nproc, command, no_python=False, env_extra=None):
    """Runs `command` under torchrun; returns rank 0's stdout lines (torchrun prefixes them)."""
    with tempfile.TemporaryDirectory() as logs:
        # Debian's torchrun 1.13 on Python 3.11 fails on its default --redirects/--tee of 0
        # (IntFlag iteration skips the zero member); 1 (stdout) avoids that.
        args = ["/usr/bin/python3", "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", str(nproc), "--redirects", "1", "--tee", "1", "--log_dir", logs]
        if no_python:
            args.append("--no_python")
        env = {k: v for k, v in os.environ.items()
               if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")}
        env["PYTHONPATH"] = PEERS
        env.update(env_extra or {})
        out = subprocess.run(args + command, check=True, capture_output=True, text=True, env=env)
        return [line.split(":", 1)[1] for line in out.stdout.splitlines() if line.startswith("[default0]:")]


def last_json(lines):
    return json.loads([line for line in lines if line.startswith("{")][-1])


def run_trainrt(nproc, steps):
    with tempfile.TemporaryDirectory() as run_dir:
        torchrun(nproc, [os.path.join(BIN, "trainrt"), "train", CONFIG, "--run-dir", run_dir,
                         "--set", f"train.max_steps={steps}", "--set", "train.log_every_steps=50",
                         "--set", "runtime.threads=1"], no_python=True)
        lines = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
        trains = [t for t in lines if t["split"] == "train" and "step_ms" in t][1:]  # skip warm-up
        mean = lambda key: sum(t[key] for t in trains) / len(trains)
        return {"step_ms": mean("step_ms"), "allreduce_ms": mean("allreduce_ms"),
                "exposed_ms": mean("exposed_allreduce_ms"), "data_wait_ms": mean("data_wait_ms")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    for program in ("trainrt", "trainrt_bench_allreduce"):
        if not os.path.exists(os.path.join(BIN, program)):
            sys.exit(f"{BIN}/{program} is missing: run tools/run build first")

    print("running trainrt under torchrun ...", file=sys.stderr, flush=True)
    trainrt = run_trainrt(args.nproc, args.steps)
    print("running PyTorch DDP under torchrun ...", file=sys.stderr, flush=True)
    peer_command = [os.path.join(PEERS, "ddp_fashion_mnist_cnn.py"), "--steps", str(args.steps)]
    peer = last_json(torchrun(args.nproc, peer_command))
    print("running PyTorch DDP with malloc tuned like trainrt ...", file=sys.stderr, flush=True)
    tuned = last_json(torchrun(args.nproc, peer_command, env_extra={"GLIBC_TUNABLES": TUNED_MALLOC}))
    print("running the all-reduce benchmarks ...", file=sys.stderr, flush=True)
    # Alternated, 5 runs of 200 all-reduces each, medians: this machine's run-to-run noise is
    # larger than the gap being measured.
    ours_runs, bare_runs = [], []
    for _ in range(5):
        ours_runs.append(last_json(torchrun(args.nproc, [os.path.join(BIN, "trainrt_bench_allreduce"),
                                                         CONFIG, "--iters", "200"], no_python=True)))
        bare_runs.append(last_json(torchrun(args.nproc, [os.path.join(PEERS, "gloo_allreduce.py"),
                                                         "--bytes", str(ours_runs[-1]["bytes"]),
                                                         "--iters", "200"])))
    median = lambda runs: sorted(runs, key=lambda r: r["ms"])[len(runs) // 2]
    ours, bare = median(ours_runs), median(bare_runs)
    spread = lambda runs: f"{min(r['ms'] for r in runs):.2f}-{max(r['ms'] for r in runs):.2f}"

    print(f"\nFashion-MNIST CNN, {args.nproc} processes x batch 128, Gloo, 1 compute thread each, "
          f"{args.steps} steps (means after warm-up)")
    print(f"{'':34} {'step ms':>9} {'ratio':>7}")
    print(f"{'trainrt (torchrun --no_python)':34} {trainrt['step_ms']:9.2f} "
          f"{trainrt['step_ms'] / peer['step_ms']:7.2f}")
    print(f"{'PyTorch DDP (torchrun)':34} {peer['step_ms']:9.2f} {1:7.2f}")
    print(f"{'PyTorch DDP, malloc tuned':34} {tuned['step_ms']:9.2f} "
          f"{tuned['step_ms'] / peer['step_ms']:7.2f}")
    hidden = 1 - trainrt["exposed_ms"] / trainrt["allreduce_ms"] if trainrt["allreduce_ms"] else 0
    print(f"\ntrainrt overlap: all-reduce {trainrt['allreduce_ms']:.2f} ms per step, of which "
          f"{trainrt['exposed_ms']:.2f} ms after backward ended ({100 * hidden:.0f}% hidden); "
          f"data wait {trainrt['data_wait_ms']:.2f} ms")
    print(f"\nall-reduce of {ours['bytes']} bytes, median of 5 runs x 200:")
    print(f"{'':34} {'ms':>9} {'busbw GB/s':>11} {'ms range':>12}")
    print(f"{'trainrt reducer (' + str(ours['buckets']) + ' buckets)':34} {ours['ms']:9.3f} "
          f"{ours['busbw_gbps']:11.3f} {spread(ours_runs):>12}")
    print(f"{'bare Gloo all_reduce (Python)':34} {bare['ms']:9.3f} {bare['busbw_gbps']:11.3f} "
          f"{spread(bare_runs):>12}")
    print(f"\nratio step time trainrt / DDP: {trainrt['step_ms'] / peer['step_ms']:.2f} (goal <= 0.80); "
          f"against DDP with trainrt's malloc settings: {trainrt['step_ms'] / tuned['step_ms']:.2f}")
    print(f"ratio bus bandwidth trainrt / bare Gloo: {ours['busbw_gbps'] / bare['busbw_gbps']:.2f} "
          f"(goal >= 0.90)")


if __name__ == "__main__":
    main()
