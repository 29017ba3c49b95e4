"""Scripts a small convolutional network for trainrt to train (run with python3-torch):

    /usr/bin/python3 examples/torchscript_model/make_model.py examples/torchscript_model/model.ts
    trainrt train examples/torchscript_model/torchscript_model.pbtxt

Any architecture TorchScript can compile works the same way: its forward takes the batch
([N, 1, 28, 28] normalised images for Fashion-MNIST) and returns logits [N, classes]. trainrt trains
the module's parameters and `trainrt export` writes the trained module (model.ts in the bundle).
"""
import sys

import torch
from torch import nn


class SmallConvNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(32 * 7 * 7, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "model.ts"
    classes = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.manual_seed(0)
    torch.jit.script(SmallConvNet(classes)).save(out)
    print(f"scripted SmallConvNet({classes}) -> {out}")


if __name__ == "__main__":
    main()
