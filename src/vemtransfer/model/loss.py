"""DiceCE: BCE-with-logits (positive-class weight) plus one minus the soft Dice.

The paper found the sum more robust across tasks than either term alone: BCE behaves when
classes are balanced, Dice when the object is sparse. Computed in float32 even under
autocast, because the Dice sums overflow in fp16 on 10 x 18 x 160 x 160 batches.
With ``ignore`` (sparsely labelled tasks) voxels labelled :data:`vemtransfer.data.splits.IGNORE`
count in neither term; without it the loss is exactly the authors'.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vemtransfer.data.splits import IGNORE


class DiceCELoss(nn.Module):
    """``BCEWithLogits(pos_weight) + 1 - (2 sum(p y) + s) / (sum p + sum y + s)`` over the batch."""

    def __init__(self, pos_weight: float = 5.0, smooth: float = 1.0, ignore: bool = False) -> None:
        super().__init__()
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)))
        self.smooth, self.ignore = smooth, ignore

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = logits.float(), target.float()
        prob = torch.sigmoid(logits)
        if not self.ignore:
            bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=self.pos_weight)
        else:  # weight 0 on unlabelled voxels, mean over the labelled ones (no host sync)
            valid = (target != IGNORE).float()
            target, prob = target * valid, prob * valid
            bce = F.binary_cross_entropy_with_logits(logits, target, weight=valid, pos_weight=self.pos_weight, reduction="sum") / valid.sum().clamp_min(1)
        dice = (2 * (prob * target).sum() + self.smooth) / (prob.sum() + target.sum() + self.smooth)
        return bce + 1 - dice
