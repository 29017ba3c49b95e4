#!/usr/bin/python3
"""The PyTorch peer of trainrt's Predictor: the same bundle's model in Python, timed the same way.

    predictor.py --bundle DIR --batch B [--iterations N] [--threads T] --mode eager|jit|jit_optimized

eager: the built-in CNN written in PyTorch (fashion_mnist_cnn.Cnn) with the bundle's weights.pt;
jit: the bundle's TorchScript module (model.ts) as it is; jit_optimized: frozen and optimized for
inference (torch.jit.freeze, torch.jit.optimize_for_inference). Prints one JSON object.
"""
import argparse
import json
import time

import torch

from fashion_mnist_cnn import Cnn


def load(bundle, mode):
    if mode == "eager":
        model = Cnn()
        model.load_state_dict(torch.load(f"{bundle}/weights.pt"))
        return model.eval()
    module = torch.jit.load(f"{bundle}/model.ts").eval()
    if mode == "jit_optimized":
        module = torch.jit.optimize_for_inference(torch.jit.freeze(module))
    return module


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", choices=["eager", "jit", "jit_optimized"], required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load(args.bundle, args.mode)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, 28, 28)
    times = []
    with torch.inference_mode():
        for _ in range(20):
            model(x)
        for _ in range(args.iterations):
            start = time.perf_counter()
            model(x)
            times.append(1000 * (time.perf_counter() - start))
    mean = sum(times) / len(times)
    print(json.dumps({"batch": args.batch, "mean_ms": mean, "p50_ms": sorted(times)[len(times) // 2],
                      "images_per_sec": 1000 * args.batch / mean}))


if __name__ == "__main__":
    main()
