#!/usr/bin/python3
"""PyTorch's own checkpoint of the model tools/bench/checkpoint.py trains: the same MLP with SGD
momentum state, saved with torch.save (model and optimizer state dicts, then fsync, as a careful
training script does) and loaded back with torch.load + load_state_dict. Prints one JSON line."""
import argparse
import json
import os
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, nargs="+", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    sizes = [784] + args.hidden + [10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    model(torch.randn(8, 784)).sum().backward()
    optimizer.step()  # creates the momentum buffers
    saves, loads = [], []
    for repeat in range(args.repeats):
        # A new file each time, as a run's checkpoints are (step-N), the one before the last removed
        # (trainrt's keep_last 2).
        path = os.path.join(args.dir, f"torch_checkpoint_{repeat}.pt")
        if repeat >= 2:
            os.remove(os.path.join(args.dir, f"torch_checkpoint_{repeat - 2}.pt"))
        start = time.perf_counter()
        with open(path, "wb") as f:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, f)
            f.flush()
            os.fsync(f.fileno())
        saves.append(time.perf_counter() - start)
        start = time.perf_counter()
        state = torch.load(path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        loads.append(time.perf_counter() - start)
    size = os.path.getsize(path)
    for repeat in range(max(0, args.repeats - 2), args.repeats):
        os.remove(os.path.join(args.dir, f"torch_checkpoint_{repeat}.pt"))
    print(json.dumps({"parameters": sum(p.numel() for p in model.parameters()), "bytes": size,
                      "save_seconds": sorted(saves)[len(saves) // 2],
                      "load_seconds": sorted(loads)[len(loads) // 2]}))


if __name__ == "__main__":
    main()
