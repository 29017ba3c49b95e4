#!/usr/bin/env python3
"""The PyTorch peer of tools/bench/gpu.py, written as a PyTorch user trains on a GPU.

The same model as trainrt's config (the default CNN, or configs/fashion_mnist_resnet.pbtxt's
ResNet), data and normalisation, batch, optimizer (SGD, momentum 0.9, Nesterov) and cosine
schedule; a DataLoader with worker processes and pinned memory, non-blocking copies, torch.autocast
for bfloat16, the loss read every --log-every steps (as trainrt reads it). Prints one JSON object:
the mean step time and the time spent waiting for the loader, over the steps after --warmup.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from fashion_mnist_cnn import Cnn, FashionMnist  # the default config's model and data, as on the CPU


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(nn.Module):
    """trainrt's "resnet" (csrc/trainrt/models/resnet.cpp) with width 64, blocks [2, 2, 2, 2]."""

    def __init__(self, width=64, blocks=(2, 2, 2, 2), classes=10):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(width)
        layers, cin = [], width
        for stage, count in enumerate(blocks):
            cout = width << stage
            for b in range(count):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem_bn(self.stem(x))))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["cnn", "resnet"], default="cnn")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device("cuda")
    loader = torch.utils.data.DataLoader(FashionMnist("train"), batch_size=args.batch_size, shuffle=True,
                                         drop_last=True, num_workers=args.workers, pin_memory=True,
                                         persistent_workers=args.workers > 0)
    model = (Cnn() if args.model == "cnn" else ResNet()).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                                weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
    bf16 = args.precision == "bfloat16"

    batches = iter(loader)
    wait = 0.0
    start = None
    for step in range(args.steps):
        if step == args.warmup:
            torch.cuda.synchronize()
            start, wait = time.perf_counter(), 0.0
        fetch = time.perf_counter()
        try:
            images, labels = next(batches)
        except StopIteration:
            batches = iter(loader)
            images, labels = next(batches)
        wait += time.perf_counter() - fetch
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % args.log_every == 0:
            loss.item()
    torch.cuda.synchronize()
    measured = args.steps - args.warmup
    print(json.dumps({"step_ms": 1000 * (time.perf_counter() - start) / measured,
                      "data_wait_ms": 1000 * wait / measured}))


if __name__ == "__main__":
    main()
