#!/usr/bin/python3
"""Language-model training speed of trainrt against PyTorch on this machine, in one run (issue 9).

    tools/bench/lm.py [--steps 60] [--threads 2] [--data data/fortunes] [--precision float32] [--device cpu]

Trains configs/fortunes_gpt.pbtxt's GPT (4 layers, width 128, context 128, batch 32, AdamW with
no decay on 1-D parameters, clipping) for --steps steps with build/bin/trainrt and the same network,
batch, optimizer and thread count from Python (tools/bench/peers/gpt.py, Debian's python3-torch),
alternating three times, and prints the median ms/step and tokens/s of each and the ratio
trainrt / PyTorch of the step time (goal <= 0.8). trainrt's step time is the mean of its
metrics.jsonl intervals after the first; the peer's the mean after the same warm-up.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINRT = os.environ.get("TRAINRT", os.path.join(ROOT, "build", "bin", "trainrt"))
# The peer's interpreter: Debian's python3-torch here; the GPU machine's CUDA PyTorch there.
PYTHON = os.environ.get("PEER_PYTHON", "/usr/bin/python3")
CONFIG = os.path.join(ROOT, "configs", "fortunes_gpt.pbtxt")
PEER = os.path.join(ROOT, "tools", "bench", "peers", "gpt.py")
LOG_EVERY = 10


def run_trainrt(data, steps, threads, precision, device):
    with tempfile.TemporaryDirectory() as run_dir:
        sets = {"data.dir": data, "train.max_steps": steps, "train.log_every_steps": LOG_EVERY,
                "train.eval_every_steps": 0, "train.epochs": 1, "runtime.threads": threads,
                "runtime.device": device, "runtime.precision": precision, "schedule.warmup_steps": 10,
                "observe.tensorboard": "false", "checkpoint.at_end": "false",
                "checkpoint.every_epoch": "false", "data.eval_limit": 64}
        if device == "cpu":
            sets["data.loader.threads"] = 1  # the other core computes
        command = [TRAINRT, "train", CONFIG, "--run-dir", run_dir]
        for key, value in sets.items():
            command += ["--set", f"{key}={value}"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        lines = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
        trains = [t for t in lines if t["split"] == "train" and "step_ms" in t][1:]
        return {"step_ms": sum(t["step_ms"] for t in trains) / len(trains),
                "tokens_per_sec": sum(t["tokens_per_sec"] for t in trains) / len(trains)}


def run_peer(data, steps, threads, precision, device):
    out = subprocess.run([PYTHON, PEER, "train", "--data", data, "--steps", str(steps),
                          "--warmup", str(LOG_EVERY), "--threads", str(threads), "--log-every", str(LOG_EVERY),
                          "--precision", precision, "--device", device],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "fortunes"))
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                        help="both sides: runtime.precision / torch.autocast")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="both sides: runtime.device / the peer's tensors")
    args = parser.parse_args()
    if not os.path.exists(TRAINRT):
        sys.exit(f"{TRAINRT} is missing: run tools/run build first")
    if not os.path.exists(os.path.join(args.data, "train.bin")):
        sys.exit(f"{args.data}/train.bin is missing: run /usr/bin/python3 tools/text_to_tokens.py first")
    ours, peers = [], []
    for i in range(args.repeats):
        print(f"round {i + 1} of {args.repeats} ...", file=sys.stderr, flush=True)
        ours.append(run_trainrt(args.data, args.steps, args.threads, args.precision, args.device))
        peers.append(run_peer(args.data, args.steps, args.threads, args.precision, args.device))
    median = lambda runs, key: statistics.median(r[key] for r in runs)
    t_ms, p_ms = median(ours, "step_ms"), median(peers, "step_ms")
    print(f"\nGPT 4x128, context 128, batch 32, {args.device}, {args.precision}, {args.threads} threads, {args.steps} "
          f"steps, median of {args.repeats}")
    print(f"{'run':10} {'ms/step':>9} {'tokens/s':>10}")
    print(f"{'trainrt':10} {t_ms:9.1f} {median(ours, 'tokens_per_sec'):10.0f}")
    print(f"{'PyTorch':10} {p_ms:9.1f} {median(peers, 'tokens_per_sec'):10.0f}")
    print(f"\nratio trainrt / PyTorch step time: {t_ms / p_ms:.2f} (goal <= 0.80)")


if __name__ == "__main__":
    main()
