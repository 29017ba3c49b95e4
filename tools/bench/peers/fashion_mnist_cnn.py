#!/usr/bin/python3
"""The PyTorch peer of configs/fashion_mnist_cnn.pbtxt, written as a PyTorch user would write it.

Same model (conv-relu-pool x2, fc 128, classifier; PyTorch's default init, which LibTorch shares),
same data and normalisation, batch, optimizer (SGD, momentum 0.9, Nesterov), cosine schedule
and thread count. Prints one JSON object: per-epoch training seconds and the final test accuracy.
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fashion_mnist import read_idx

MEAN, STD = 0.2860, 0.3530



class FashionMnist(torch.utils.data.Dataset):
    """uint8 images in memory; each sample converted and normalised on access (ToTensor+Normalize)."""

    def __init__(self, prefix):
        self.images = torch.from_numpy(read_idx(f"{prefix}-images-idx3-ubyte.gz").copy())
        self.labels = torch.from_numpy(read_idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        image = self.images[i].unsqueeze(0).float().div_(255).sub_(MEAN).div_(STD)
        return image, self.labels[i]


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 7 * 7, 128)
        self.classifier = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.classifier(F.relu(self.fc(x.flatten(1))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train_set, test_set = FashionMnist("train"), FashionMnist("t10k")
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                         drop_last=True, num_workers=args.workers)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=256)
    model = Cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    total_steps = len(loader) * args.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(1.0, step / total_steps))))

    epoch_seconds = []
    for _ in range(args.epochs):
        model.train()
        start = time.perf_counter()
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            loss.item()  # as trainrt does: the loss is read every step for the log
        epoch_seconds.append(time.perf_counter() - start)

    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in test_loader:
            correct += (model(images).argmax(1) == labels).sum().item()
    print(json.dumps({"epoch_seconds": epoch_seconds, "accuracy": correct / len(test_set)}))


if __name__ == "__main__":
    main()
