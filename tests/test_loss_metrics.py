import math

import numpy as np
import pytest
import torch

from vemtransfer.model.loss import DiceCELoss
from vemtransfer.model.metrics import Counts, confusion, scores


def test_dice_ce_matches_hand_computation():
    logits = torch.tensor([[0.0, 2.0, -1.0, 3.0]])
    target = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    p = [0.5, 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1)), 1 / (1 + math.exp(-3))]
    w = 5.0
    bce = -np.mean([math.log(1 - p[0]), w * math.log(p[1]), w * math.log(p[2]), math.log(1 - p[3])])
    dice = (2 * (p[1] + p[2]) + 1) / (sum(p) + 2 + 1)
    got = DiceCELoss(pos_weight=w, smooth=1.0)(logits, target)
    assert got.item() == pytest.approx(bce + 1 - dice, rel=1e-6)


def test_dice_ce_is_computed_in_float32_for_half_inputs():
    loss = DiceCELoss()(torch.zeros(1, 4, dtype=torch.float16), torch.ones(1, 4))
    assert loss.dtype == torch.float32


def test_confusion_and_scores_by_hand():
    pred = np.array([1, 1, 0, 0, 1, 0], bool)
    label = np.array([1, 0, 1, 0, 1, 0], bool)
    c = confusion(pred, label)
    assert c == Counts(tp=2, fp=1, fn=1, tn=2)
    s = scores(c)
    assert s["iou_fg"] == pytest.approx(2 / 4)
    assert s["iou_bg"] == pytest.approx(2 / 4)
    assert s["iou_mean"] == pytest.approx(0.5)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)


def test_mean_iou_flatters_sparse_objects():
    label = np.zeros(1000, bool)
    label[:10] = True
    pred = np.zeros(1000, bool)
    pred[5:15] = True  # half the object, as many false positives
    s = scores(confusion(pred, label))
    assert s["iou_fg"] == pytest.approx(5 / 15)
    assert s["iou_mean"] > 0.65  # the authors' averaged number looks far better


def test_undefined_scores_are_none():
    s = scores(confusion(np.zeros(4, bool), np.zeros(4, bool)))
    assert s["iou_fg"] is None and s["precision"] is None and s["recall"] is None
    assert s["accuracy"] == 1.0
    with pytest.raises(ValueError, match="shape"):
        confusion(np.zeros(3, bool), np.zeros(4, bool))
