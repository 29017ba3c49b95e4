#!/usr/bin/python3
"""The PyTorch DDP peer of `trainrt train configs/fashion_mnist_cnn.pbtxt` under a launcher.

Run by torchrun, one process per rank: the same CNN, data, normalisation, per-rank batch,
optimizer and threads as fashion_mnist_cnn.py, wrapped in DistributedDataParallel over Gloo
(default buckets, 25 MiB), with a DistributedSampler. Rank 0 prints one JSON line: mean
milliseconds per step after --warmup steps (data loading included, as in trainrt's step_ms).
"""
import argparse
import json
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

from fashion_mnist_cnn import Cnn, FashionMnist


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    train_set = FashionMnist("train")
    sampler = torch.utils.data.distributed.DistributedSampler(train_set, shuffle=True, drop_last=True)
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, sampler=sampler,
                                         drop_last=True, num_workers=0)
    model = torch.nn.parallel.DistributedDataParallel(Cnn())
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)

    step = 0
    start = None
    epoch = 0
    while step < args.steps:
        sampler.set_epoch(epoch)
        for images, labels in loader:
            if step == args.warmup:
                start = time.perf_counter()
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
            step += 1
            if step == args.steps:
                break
        epoch += 1
    step_ms = (time.perf_counter() - start) * 1000 / (args.steps - args.warmup)
    if dist.get_rank() == 0:
        print(json.dumps({"step_ms": step_ms, "loss": loss.item()}))


if __name__ == "__main__":
    main()
