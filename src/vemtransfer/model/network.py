"""The paper's 3D residual symmetric U-Net ("RSUNet", Lee et al. 2017 as used by Xie et al. 2025).

A faithful port: with the default widths (28, 36, 48, 64, 80) it has exactly 1,439,705
trainable parameters, so pretrained weights are interchangeable with the authors' model.
Pooling and up-sampling act in y and x only, because VEM volumes are anisotropic (z is
sampled 3-6x coarser than y/x). Skips are *added*, not concatenated, which keeps the decoder
as narrow as the encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

PAPER_WIDTHS: tuple[int, ...] = (28, 36, 48, 64, 80)
PAPER_BN_MOMENTUM = 0.01


def _bn(channels: int, momentum: float) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=1e-5, momentum=momentum)


class ResBlock(nn.Module):
    """A (1,3,3) conv whose output is the skip, then two 3x3x3 convs added back onto it.

    ``planar``: the two body convs are (1,3,3) too (see :class:`RSUNet`'s ``planar_levels``).
    """

    def __init__(self, cin: int, cout: int, bn_momentum: float, planar: bool = False) -> None:
        super().__init__()
        kernel, pad = ((1, 3, 3), (0, 1, 1)) if planar else (3, 1)
        self.pre = nn.Sequential(
            nn.Conv3d(cin, cout, (1, 3, 3), padding=(0, 1, 1)), _bn(cout, bn_momentum), nn.ELU()
        )
        self.body = nn.Sequential(
            nn.Conv3d(cout, cout, kernel, padding=pad),
            _bn(cout, bn_momentum),
            nn.ELU(),
            nn.Conv3d(cout, cout, kernel, padding=pad),
        )
        self.post = nn.Sequential(_bn(cout, bn_momentum), nn.ELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.pre(x)
        return self.post(self.body(skip) + skip)


class RSUNet(nn.Module):
    """Residual symmetric U-Net mapping (N, 1, Z, Y, X) images to (N, 1, Z, Y, X) logits.

    ``widths`` is the stem width followed by one width per level (the paper: 28 then 36,
    48, 64, 80). Y and X must be divisible by ``2 ** (len(widths) - 2)``; Z is free.
    The sigmoid stays outside the network so the loss can use BCE-with-logits.

    ``planar_levels`` (paper: 0): the residual blocks of the first that many levels (finest
    first, encoder and decoder; level 1 includes the output block) use in-plane (1,3,3) body
    convolutions instead of 3x3x3. nnU-Net's rule for anisotropic data: convolve in z only
    once the in-plane pixel has grown to about the section thickness. On a CPU it also
    removes most of the cost, which sits in the full-resolution 3x3x3 convolutions.
    """

    def __init__(
        self, widths: Sequence[int] = PAPER_WIDTHS, bn_momentum: float = PAPER_BN_MOMENTUM, planar_levels: int = 0
    ) -> None:
        super().__init__()
        if len(widths) < 3:
            raise ValueError(f"widths needs a stem and at least two levels, got {list(widths)}")
        if not 0 <= planar_levels <= len(widths) - 1:
            raise ValueError(f"planar_levels must be in [0, {len(widths) - 1}] for widths {list(widths)}, got {planar_levels}")
        self.widths = tuple(int(w) for w in widths)
        self.bn_momentum = float(bn_momentum)
        self.planar_levels = int(planar_levels)
        stem, levels = self.widths[0], self.widths[1:]
        self.stem = nn.Sequential(nn.Conv3d(1, stem, (1, 5, 5), padding=(0, 2, 2)), nn.ELU())
        self.down = nn.ModuleList(
            ResBlock(cin, cout, bn_momentum, i < planar_levels) for i, (cin, cout) in enumerate(zip((stem, *levels[:-1]), levels))
        )
        self.pool = nn.MaxPool3d((1, 2, 2))
        rev = levels[::-1]
        self.upsample = nn.ModuleList(
            nn.ConvTranspose3d(cin, cout, (1, 2, 2), stride=(1, 2, 2))
            for cin, cout in zip(rev[:-1], rev[1:])
        )
        n = len(levels)
        self.up = nn.ModuleList(ResBlock(c, c, bn_momentum, n - 2 - i < planar_levels) for i, c in enumerate(rev[1:]))
        self.to_stem = nn.ConvTranspose3d(levels[0], stem, 1)
        self.out_block = ResBlock(stem, stem, bn_momentum, planar_levels > 0)
        self.head = nn.Conv3d(stem, 1, (1, 5, 5), padding=(0, 2, 2))

    @property
    def yx_divisor(self) -> int:
        """Y and X of the input must be multiples of this (one halving per pooling)."""
        return 2 ** (len(self.widths) - 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.stem(x)
        skips = []
        h = s0
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else self.pool(h))
            skips.append(h)
        for upsample, block, skip in zip(self.upsample, self.up, skips[-2::-1]):
            h = block(upsample(h) + skip)
        h = self.out_block(self.to_stem(h) + s0)
        return self.head(h)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, the number the paper's 1,439,705 refers to."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
