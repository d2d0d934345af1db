"""A small torch encoder-decoder on NCHW images of shape (2, 8, 8): Conv2d down, ConvTranspose2d back up.

parity port examples/decoder_torch.py:Net --to keras --out port-keras --input-shape 2,8,8
"""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(2, 4, 3, stride=2)  # (B, 4, 3, 3)
        self.up = nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1)  # (B, 3, 6, 6): Keras' 'same'
        self.out = nn.ConvTranspose2d(3, 2, 3)  # (B, 2, 8, 8): 'valid'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.up(torch.relu(self.down(x)))))
