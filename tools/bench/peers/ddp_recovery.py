#!/usr/bin/python3
"""The PyTorch peer of tools/bench/recovery.py: DDP training that survives a killed worker the way
PyTorch users make it survive one today, under `torchrun --max_restarts 1`.

Run by torchrun, one process per rank, Gloo: the default CNN (fashion_mnist_cnn.py's model, data
and normalisation; SGD + Nesterov, cosine schedule) or an MLP (--model mlp --hidden ...; the
model of tools/bench/checkpoint.py), batch --batch-size per rank, a DistributedSampler. Every
--every steps rank 0 saves model, optimizer and step with torch.save to a temporary file, fsyncs
it and renames it over RUN/checkpoints/step-N.pt (the newest two are kept). On start every rank
loads the newest checkpoint, if any, and resumes from its step, at the same place in the same
epoch's sample order.

Rank 0 appends one JSON line per step to RUN/metrics.jsonl, flushed at once, as trainrt does:
{"split": "train", "step": S, "epoch": E, "loss": L, "time": UNIX_SECONDS, "step_ms": MS}; on a
resume it first drops the lines past the checkpoint's step (trainrt's rule, by a rename, so a
reader sees a new file) and writes {"split": "resume", "step": S, "time": ..., "start_ms": ...,
"init_ms": ..., "load_ms": ...}: from the process start (before `import torch`) to the process
group, and the torch.load + load_state_dict time.
"""
import time

START = time.time()  # before the imports: they are part of what a restart costs

import argparse
import json
import math
import os

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from fashion_mnist_cnn import Cnn, FashionMnist


def mlp(hidden):
    sizes = [28 * 28] + hidden + [10]
    layers = [nn.Flatten()]
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def checkpoints(directory):
    """(step, path) of the complete checkpoints in `directory`, oldest first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        if name.startswith("step-") and name.endswith(".pt"):
            found.append((int(name[len("step-"):-len(".pt")]), os.path.join(directory, name)))
    return sorted(found)


def save(directory, step, model, optimizer, keep=2):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"step-{step:08d}.pt")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for _, old in checkpoints(directory)[:-keep]:
        os.remove(old)


def keep_lines_through(path, step):
    """Drops the lines of metrics.jsonl past `step` (they are redone), by a rename."""
    kept = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    if json.loads(line).get("step", step + 1) <= step:
                        kept.append(line)
                except ValueError:
                    pass  # a line cut short by the kill
    with open(path + ".tmp", "w") as f:
        f.writelines(kept)
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--hidden", type=int, nargs="+", default=[4096] * 7, help="MLP hidden sizes")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50, help="checkpoint every N steps")
    parser.add_argument("--batch-size", type=int, default=128, help="per rank")
    parser.add_argument("--train-limit", type=int, default=0, help="first N training samples (0: all)")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--nesterov", action="store_true")
    parser.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    init_done = time.time()
    torch.manual_seed(args.seed)
    train_set = FashionMnist("train")
    if args.train_limit:
        train_set = torch.utils.data.Subset(train_set, range(min(args.train_limit, len(train_set))))
    sampler = torch.utils.data.distributed.DistributedSampler(train_set, shuffle=True, drop_last=True,
                                                              seed=args.seed)
    steps_per_epoch = len(sampler) // args.batch_size
    model = Cnn() if args.model == "cnn" else mlp(args.hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                nesterov=args.nesterov)

    ckpt_dir = os.path.join(args.run_dir, "checkpoints")
    metrics_path = os.path.join(args.run_dir, "metrics.jsonl")
    step = 0
    newest = checkpoints(ckpt_dir)
    resume = None
    if newest:
        load_start = time.time()
        state = torch.load(newest[-1][1], map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        del state
        resume = {"split": "resume", "step": step, "init_ms": (init_done - START) * 1000,
                  "load_ms": (time.time() - load_start) * 1000}
    ddp = torch.nn.parallel.DistributedDataParallel(model)

    metrics = None
    if rank == 0:
        os.makedirs(args.run_dir, exist_ok=True)
        if resume:
            keep_lines_through(metrics_path, step)
        metrics = open(metrics_path, "a")
        if resume:
            resume["time"] = time.time()
            resume["start_ms"] = (resume["time"] - START) * 1000  # process start to now
            metrics.write(json.dumps(resume) + "\n")
            metrics.flush()
            print(f"resumed from {newest[-1][1]}: step {step}", flush=True)

    total = args.steps  # the cosine's length, as trainrt's with train.max_steps
    while step < args.steps:
        epoch, skip = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)
        # The rest of this epoch's order, as the uninterrupted run would have seen it.
        indices = list(sampler)[skip * args.batch_size:]
        loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, sampler=indices,
                                             drop_last=True, num_workers=0)
        for images, labels in loader:
            started = time.perf_counter()
            if args.schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
            loss = F.cross_entropy(ddp(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = loss.item()
            step += 1
            if metrics:
                metrics.write(json.dumps({"split": "train", "step": step, "epoch": epoch, "loss": value,
                                          "time": time.time(),
                                          "step_ms": (time.perf_counter() - started) * 1000}) + "\n")
                metrics.flush()
            if rank == 0 and step % args.every == 0:
                save_start = time.perf_counter()
                save(ckpt_dir, step, model, optimizer)
                metrics.write(json.dumps({"split": "checkpoint", "step": step, "time": time.time(),
                                          "save_ms": (time.perf_counter() - save_start) * 1000}) + "\n")
                metrics.flush()
            if step == args.steps:
                break
    if metrics:
        metrics.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
