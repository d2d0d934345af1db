"""One pooling module called twice, as many torch convnets write it: ``self.pool`` holds no
weights, so ``forward`` reuses it after each convolution. NCHW images of shape (3, 16, 16).

    parity port examples/pool_twice_torch.py:Net --to keras --input-shape 3,16,16
"""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 8, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(8 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # (B, 6, 6, 6)
        x = self.pool(torch.relu(self.conv2(x)))  # (B, 8, 2, 2): the same module again
        return self.fc(torch.flatten(x, 1))
