#!/usr/bin/python3
"""trainrt's GPT (csrc/trainrt/models/gpt.cpp) in PyTorch, with the same parameter names, so that
trainrt's exported state dict loads into it as it is.

    gpt.py parity STATE_DICT TENSORS --heads H   logits of TENSORS["tokens"] against TENSORS["logits"]
    gpt.py train --data DIR [--steps N ...]      the PyTorch peer of tools/bench/lm.py (JSON out)
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def causal_attention(q, k, v, dropout):
    if hasattr(F, "scaled_dot_product_attention"):  # PyTorch 2
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
    t = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    ahead = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
    weights = torch.softmax(scores.masked_fill(ahead, float("-inf")), -1)
    return F.dropout(weights, dropout, training=dropout > 0) @ v


class Attention(nn.Module):
    def __init__(self, width, heads, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = causal_attention(q, k, v, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return F.dropout(self.proj(y), self.dropout, self.training)


class Block(nn.Module):
    def __init__(self, width, heads, dropout):
        super().__init__()
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.proj = nn.Linear(4 * width, width)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + F.dropout(self.proj(F.gelu(self.fc(self.ln2(x)))), self.dropout, self.training)


class Gpt(nn.Module):
    def __init__(self, vocab, layers, width, heads, context, dropout=0.0):
        super().__init__()
        self.dropout = dropout
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for weight in (block.attn.proj.weight, block.proj.weight):
                nn.init.normal_(weight, 0.0, 0.02 / math.sqrt(2 * layers))

    def forward(self, tokens):
        positions = torch.arange(tokens.size(1), device=tokens.device)
        x = F.dropout(self.wte(tokens) + self.wpe(positions), self.dropout, self.training)
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


def from_state_dict(state, heads):
    layers = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    vocab, width = state["wte.weight"].shape
    model = Gpt(vocab, layers, width, heads, state["wpe.weight"].shape[0])
    model.load_state_dict(state)
    return model.eval()


def parity(args):
    model = from_state_dict(torch.load(args.state_dict), args.heads)
    tensors = torch.load(args.tensors)
    with torch.no_grad():
        logits = model(tensors["tokens"])
    print(f"max_abs_diff {float((logits - tensors['logits']).abs().max()):.3e}")


def train(args):
    """The same model, data, batch, optimizer (AdamW, no decay on 1-D parameters, warmup + cosine,
    clipping) as a trainrt language-model config, timed over the steps after --warmup."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    tokens = torch.from_numpy(np.fromfile(os.path.join(args.data, "train.bin"), dtype="<u2").astype(np.int64))
    tokens = tokens.to(device)  # on a GPU the windows are gathered there, as trainrt copies its batches ahead
    windows = (tokens.numel() - 1) // args.context
    model = Gpt(256, args.layers, args.width, args.heads, args.context).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    def lr_at(step):
        if step < args.warmup_lr:
            return args.lr * (step + 1) / args.warmup_lr
        progress = (step - args.warmup_lr) / max(1, args.steps - args.warmup_lr)
        return args.lr * 0.5 * (1 + math.cos(math.pi * progress))
    order = torch.randperm(windows)
    start = None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for step in range(args.steps):
        if step == args.warmup:
            sync()
            start = time.perf_counter()
        rows = order[(step * args.batch_size + torch.arange(args.batch_size)) % windows]
        index = (rows[:, None] * args.context + torch.arange(args.context + 1)[None, :]).to(device)
        window = tokens[index]
        x, y = window[:, :-1], window[:, 1:]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bfloat16"):
            loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % args.log_every == 0:
            loss.item()
    sync()
    seconds = time.perf_counter() - start
    measured = args.steps - args.warmup
    print(json.dumps({"step_ms": 1000 * seconds / measured,
                      "tokens_per_sec": measured * args.batch_size * args.context / seconds,
                      "last_loss": float(loss)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("parity")
    p.add_argument("state_dict")
    p.add_argument("tensors")
    p.add_argument("--heads", type=int, required=True)
    t = commands.add_parser("train")
    t.add_argument("--data", required=True)
    for name, default in [("steps", 60), ("warmup", 10), ("batch-size", 32), ("context", 128),
                          ("layers", 4), ("width", 128), ("heads", 4), ("threads", 2), ("warmup-lr", 100),
                          ("log-every", 20)]:
        t.add_argument(f"--{name}", type=int, default=default)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    parity(args) if args.command == "parity" else train(args)


if __name__ == "__main__":
    main()
