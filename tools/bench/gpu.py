#!/usr/bin/env python3
"""Step time of trainrt against PyTorch eager on one GPU, side by side in one run (issue 11).

    tools/bench/gpu.py --trainrt build-gpu/bin/trainrt --data DIR [--steps 400]

For the default CNN (configs/fashion_mnist_cnn.pbtxt, batch 128) and the ResNet of
configs/fashion_mnist_resnet.pbtxt (batch 256), each in float32 and bfloat16 autocast: trains
--steps steps with `trainrt train --set runtime.device=cuda` and the same model, data, batch,
optimizer and schedule from Python (tools/bench/peers/gpu_train.py). trainrt's step time is the
mean of its metrics.jsonl intervals after the first; the peer's the mean after the same warm-up.
Prints one table: ms/step of each, the ratio trainrt / PyTorch (goal: <= 0.8 on the small model,
<= 1.0 on the large one) and the share of trainrt's step spent waiting for data (goal: < 1%).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "tools", "bench", "peers", "gpu_train.py")
LOG_EVERY = 50

MODELS = {  # name: (config, batch, lr, weight decay, goal for the ratio)
    "cnn": ("configs/fashion_mnist_cnn.pbtxt", 128, 0.05, 0.0, 0.8),
    "resnet": ("configs/fashion_mnist_resnet.pbtxt", 256, 0.1, 0.0005, 1.0),
}


def run_trainrt(trainrt, data, model, precision, steps):
    config = MODELS[model][0]
    with tempfile.TemporaryDirectory() as run_dir:
        sets = {"data.dir": data, "runtime.device": "cuda", "runtime.precision": precision,
                "train.max_steps": steps, "train.log_every_steps": LOG_EVERY,
                "observe.tensorboard": "false", "checkpoint.at_end": "false",
                "checkpoint.every_epoch": "false"}
        command = [trainrt, "train", os.path.join(ROOT, config), "--run-dir", run_dir]
        for key, value in sets.items():
            command += ["--set", f"{key}={value}"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        lines = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
        trains = [t for t in lines if t["split"] == "train" and "step_ms" in t][1:]  # after warm-up
        step_ms = sum(t["step_ms"] for t in trains) / len(trains)
        wait_ms = sum(t["data_wait_ms"] for t in trains) / len(trains)
        return {"step_ms": step_ms, "data_wait_ms": wait_ms}


def run_peer(data, model, precision, steps):
    _, batch, lr, decay, _ = MODELS[model]
    env = dict(os.environ, FASHION_MNIST_DIR=data)
    out = subprocess.run([sys.executable, PEER, "--model", model, "--precision", precision,
                          "--steps", str(steps), "--warmup", str(LOG_EVERY), "--batch-size", str(batch),
                          "--lr", str(lr), "--weight-decay", str(decay), "--log-every", str(LOG_EVERY)],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trainrt", default=os.path.join(ROOT, "build-gpu", "bin", "trainrt"))
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--models", default="cnn,resnet")
    args = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        sys.exit("gpu.py: PyTorch sees no CUDA device")
    card = torch.cuda.get_device_name(0)

    rows = []
    for model in args.models.split(","):
        for precision in ("float32", "bfloat16"):
            print(f"running {model} {precision} ...", file=sys.stderr, flush=True)
            ours = run_trainrt(args.trainrt, args.data, model, precision, args.steps)
            peer = run_peer(args.data, model, precision, args.steps)
            rows.append((model, precision, ours, peer))

    print(f"\n{card}, torch {torch.__version__}, {args.steps} steps, mean ms/step after {LOG_EVERY}")
    print(f"| model | precision | trainrt ms | PyTorch ms | ratio | goal | trainrt data wait |")
    print(f"| --- | --- | --- | --- | --- | --- | --- |")
    for model, precision, ours, peer in rows:
        ratio = ours["step_ms"] / peer["step_ms"]
        goal = MODELS[model][4]
        print(f"| {model} | {precision} | {ours['step_ms']:.3f} | {peer['step_ms']:.3f} | {ratio:.2f} | "
              f"<= {goal} {'met' if ratio <= goal else 'NOT met'} | "
              f"{100 * ours['data_wait_ms'] / ours['step_ms']:.2f}% |")


if __name__ == "__main__":
    main()
