"""A small torch convnet with BatchNorm, NCHW images of shape (3, 6, 6).

parity compare examples/bn_torch.py:Net examples/bn_keras.py:hurried --input-shape 3,6,6
"""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)  # eps=1e-5, momentum=0.1: torch's defaults
        self.fc = nn.Linear(8 * 6 * 6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))  # (B, 8, 6, 6)
        return self.fc(torch.flatten(x, 1))
