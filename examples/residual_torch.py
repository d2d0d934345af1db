"""A residual block with BatchNorm, written in PyTorch: conv-BN-ReLU, conv-BN, the identity added,
ReLU. NCHW images of shape (4, 6, 6). Ported, it is checked in inference mode (the running
statistics) and over training steps (the batch statistics, and the running statistics they update).

    parity port examples/residual_torch.py:Net --to keras --input-shape 4,6,6
"""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        x = torch.relu(x + y)  # the residual connection
        return self.fc(torch.flatten(x, 1))
