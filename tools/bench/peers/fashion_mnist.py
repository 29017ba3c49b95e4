"""Reading Debian's Fashion-MNIST IDX files (gzipped) for the PyTorch peers."""
import gzip
import os

import numpy as np

# Debian's dataset-fashion-mnist; FASHION_MNIST_DIR points elsewhere (the GPU machine has a copy).
DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def read_idx(name):
    """The array in DATA/name (e.g. "train-images-idx3-ubyte.gz"), shaped as its header says."""
    raw = gzip.open(f"{DATA}/{name}").read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
