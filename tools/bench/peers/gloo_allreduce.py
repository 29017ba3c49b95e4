#!/usr/bin/python3
"""A bare Gloo all-reduce from Python, the yardstick for trainrt's reducer (run under torchrun).

One float32 tensor of --bytes, all-reduced --iters times after 5 untimed; rank 0 prints one JSON
line: milliseconds per all-reduce and the bus bandwidth (nccl-tests' definition).
"""
import argparse
import json
import time

import torch
import torch.distributed as dist


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bytes", type=int, required=True)
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    tensor = torch.randn(args.bytes // 4)
    for _ in range(5):
        dist.all_reduce(tensor)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(args.iters):
        dist.all_reduce(tensor)
    ms = (time.perf_counter() - start) * 1000 / args.iters
    n = dist.get_world_size()
    busbw = args.bytes / (ms / 1000) * 2 * (n - 1) / n / 1e9
    if dist.get_rank() == 0:
        print(json.dumps({"bytes": args.bytes, "ms": ms, "busbw_gbps": busbw}))


if __name__ == "__main__":
    main()
