#!/usr/bin/python3
"""The PyTorch peer of trainrt_bench_loader: torch.utils.data.DataLoader over Fashion-MNIST's
training images with the same random crop (padding 2), horizontal flip and normalisation, batch 128,
shuffled. Prints one JSON line: samples per second and peak resident memory (this process plus its
largest worker process)."""
import argparse
import json
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from fashion_mnist import read_idx




class AugmentedFashionMnist(torch.utils.data.Dataset):
    def __init__(self):
        self.images = torch.from_numpy(read_idx("train-images-idx3-ubyte.gz").copy())
        self.labels = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz").astype(np.int64))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        image = self.images[i].unsqueeze(0)
        padded = F.pad(image, (2, 2, 2, 2))
        dy, dx = torch.randint(0, 5, (2,)).tolist()
        image = padded[:, dy:dy + 28, dx:dx + 28]
        if torch.rand(1).item() < 0.5:
            image = image.flip(2)
        return image.float().div_(255).sub_(0.2860).div_(0.3530), self.labels[i]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    loader = torch.utils.data.DataLoader(AugmentedFashionMnist(), batch_size=128, shuffle=True,
                                         num_workers=args.workers, drop_last=True)
    samples, checksum = 0, 0.0
    start = time.perf_counter()
    for _ in range(args.epochs):
        for images, labels in loader:
            samples += len(labels)
            checksum += float(images[0, 0, 0, 0])
    seconds = time.perf_counter() - start
    peak_kb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss +
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"samples_per_sec": samples / seconds, "seconds": seconds, "samples": samples,
                      "peak_rss_mb": peak_kb / 1024}))


if __name__ == "__main__":
    main()
