"""An MNIST classifier as the PyTorch tutorials write it: modules for the weights, functional
calls for everything else (dropout too), NCHW images of shape (1, 28, 28).

    parity spec examples/mnist_torch.py:Net --input-shape 1,28,28
"""

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 7 * 7, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, 8, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (B, 16, 7, 7)
        x = torch.flatten(x, 1)  # (B, 784)
        x = F.dropout(F.relu(self.fc1(x)), 0.25, training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)
