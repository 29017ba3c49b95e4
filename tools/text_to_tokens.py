#!/usr/bin/python3
"""Text to byte-level token streams for trainrt's language models (config task "language_model").

    tools/text_to_tokens.py [--out data/fortunes] [--val-fraction 0.1] [TEXT_FILE_OR_DIR ...]

Each byte of the text is one token (vocabulary 256: nothing to download, any text works). The
inputs are concatenated in the order given (a directory: its regular files without a dot in the
name, sorted, which for the default input, Debian's `fortunes` package under
/usr/share/games/fortunes, skips the .dat indexes and .u8 links). The last --val-fraction of the
tokens becomes the validation split. Writes OUT/train.bin and OUT/val.bin (little-endian uint16,
data.tokens.token_bytes 2) and OUT/meta.json, and prints the unigram baseline: the validation
loss (nats per token) of a model that knows only the training split's byte frequencies, the figure a
trained model must beat.
"""
import argparse
import array
import json
import math
import os
import sys

DEFAULT_INPUT = "/usr/share/games/fortunes"


def input_files(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if "." not in name and os.path.isfile(full) and not os.path.islink(full):
                    yield full
        elif os.path.isfile(path):
            yield path
        else:
            sys.exit(f"text_to_tokens: '{path}' is neither a file nor a directory"
                     + (" (apt-get install fortunes)" if path == DEFAULT_INPUT else ""))


def write_tokens(path, data):
    tokens = array.array("H", iter(data))  # one uint16 per byte (bytes themselves would be read as pairs)
    if sys.byteorder != "little":
        tokens.byteswap()
    with open(path, "wb") as out:
        tokens.tofile(out)


def unigram_loss(train, val):
    """Cross-entropy (nats) of `val` under `train`'s byte frequencies, add-one smoothed."""
    counts = [1] * 256
    for b in train:
        counts[b] += 1
    total = sum(counts)
    val_counts = [0] * 256
    for b in val:
        val_counts[b] += 1
    return -sum(n * math.log(counts[b] / total) for b, n in enumerate(val_counts) if n) / len(val)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="*", default=[DEFAULT_INPUT])
    parser.add_argument("--out", default="data/fortunes")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    args = parser.parse_args()
    if not 0 < args.val_fraction < 1:
        sys.exit("text_to_tokens: --val-fraction must be between 0 and 1")
    files = list(input_files(args.inputs))
    data = b"".join(open(f, "rb").read() for f in files)
    split = int(len(data) * (1 - args.val_fraction))
    train, val = data[:split], data[split:]
    if not train or not val:
        sys.exit(f"text_to_tokens: {len(data)} bytes of text are too few to split")
    os.makedirs(args.out, exist_ok=True)
    write_tokens(os.path.join(args.out, "train.bin"), train)
    write_tokens(os.path.join(args.out, "val.bin"), val)
    meta = {"vocab_size": 256, "token_bytes": 2, "files": len(files), "train_tokens": len(train),
            "val_tokens": len(val), "unigram_val_loss": unigram_loss(train, val)}
    with open(os.path.join(args.out, "meta.json"), "w") as out:
        json.dump(meta, out, indent=1)
    print(f"{len(files)} files, {len(data)} bytes -> {args.out}/train.bin ({len(train)} tokens), "
          f"{args.out}/val.bin ({len(val)} tokens); unigram baseline: validation loss "
          f"{meta['unigram_val_loss']:.4f} nats/token (perplexity {math.exp(meta['unigram_val_loss']):.2f})")


if __name__ == "__main__":
    main()
