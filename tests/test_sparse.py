"""Sparsely labelled volumes (labelled_sections) and tasks without a test region."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import yaml

from vemtransfer.config import validate_config
from vemtransfer.data.datasets import needed_sections
from vemtransfer.data.splits import IGNORE, load_split
from vemtransfer.data.synthetic import generate_tissue
from vemtransfer.model.loss import DiceCELoss
from vemtransfer.model.metrics import confusion
from vemtransfer.training.evaluate import evaluate_model

import job_helpers as jobs

LABELLED = [1, 4, 7, 10, 13]


def test_ignored_voxels_change_neither_loss_nor_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 4, 8, 8, generator=g)
    target = (torch.rand(2, 1, 4, 8, 8, generator=g) > 0.7).float()
    plain = DiceCELoss(5.0, 1.0)(logits, target)
    assert torch.allclose(DiceCELoss(5.0, 1.0, ignore=True)(logits, target), plain)  # nothing ignored: the authors' loss
    sparse = target.clone()
    sparse[:, :, 1:3] = IGNORE  # two unlabelled sections
    a = logits.clone().requires_grad_()
    loss = DiceCELoss(5.0, 1.0, ignore=True)(a, sparse)
    loss.backward()
    assert torch.all(a.grad[:, :, 1:3] == 0) and torch.any(a.grad[:, :, 0] != 0)
    b = logits.clone()
    b[:, :, 1:3] = 50.0  # whatever the network says on unlabelled sections
    assert torch.allclose(DiceCELoss(5.0, 1.0, ignore=True)(b, sparse), loss)
    keep = [0, 3]  # equals the loss of the labelled sections alone
    assert torch.allclose(loss, DiceCELoss(5.0, 1.0)(logits[:, :, keep], target[:, :, keep]))


def test_confusion_leaves_out_unlabelled_voxels():
    pred = np.array([1, 1, 0, 0, 1, 0], bool)
    label = np.array([1, 0, 1, 0, IGNORE, IGNORE], np.uint8)
    c = confusion(pred, label)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 1, 1)


def _sparse_volume(tmp_path: Path, shape=(16, 64, 64)) -> dict:
    """A local dataset whose unlabelled sections hold 7s: reading one would fail the 0/1 check."""
    image, labels = generate_tissue("liver", shape, 5)
    label = np.full(shape, 7, np.uint8)
    label[LABELLED] = labels["mito"][LABELLED]
    tifffile.imwrite(tmp_path / "img.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "lab.tif", label, photometric="minisblack")
    return {"kind": "local", "image": str(tmp_path / "img.tif"), "labels": {"mito": str(tmp_path / "lab.tif")}, "voxel_nm": [32, 8, 8]}


def _config(tiny_raw: dict, tmp_path: Path, **task) -> dict:
    tiny_raw["datasets"]["lab"] = _sparse_volume(tmp_path)
    tiny_raw["tasks"]["Lab-M"] = {"dataset": "lab", "label": "mito", "train": {"z": [0, 12]}, "validation": {"axis": "y", "fraction": 0.4},
                                  "labelled_sections": LABELLED, **task}
    tiny_raw["recommend"] = {"tasks": ["Lab-M"], "repeats": 1}
    return tiny_raw


def test_prepare_keeps_every_image_section_and_only_the_labelled_label_sections(tiny_raw, tmp_path, caplog):
    raw = _config(tiny_raw, tmp_path, test={"z": [12, 16]})
    raw["tasks"]["Lab-M"]["labelled_sections"] = [*LABELLED, 40]
    cfg = validate_config(raw)
    summary = jobs.prepare(raw, "Lab-M")  # never reads a 7: unlabelled label sections are not read
    assert "labelled sections [40] lie in no train/test region" in caplog.text
    folder = jobs.prepared_dir(cfg.raw, "Lab-M")
    train, test = load_split(folder, "train"), load_split(folder, "test")
    assert train.image.shape[0] == 12 and test.image.shape[0] == 4
    labelled = [z for z in range(12) if z in LABELLED]
    assert all((train.label[z] != IGNORE).all() == (z in labelled) for z in range(12))
    assert set(np.unique(train.label[labelled])) <= {0, 1} and (test.label[[0, 2, 3]] == IGNORE).all()
    assert summary["sparse"] and summary["splits"]["train"]["labelled_sections"] == 4 and summary["splits"]["test"]["labelled_sections"] == 1
    fg = summary["splits"]["train"]["foreground"]
    assert fg == pytest.approx(float((train.label[labelled] == 1).mean()))  # over labelled voxels only
    for z, _, _ in summary["origins"]:  # every training patch (4 sections deep) holds a labelled section
        assert any(z <= s < z + 4 for s in labelled)


def test_needed_sections_of_a_sparse_downloaded_task_are_its_labelled_ones(tiny_raw, repo):
    tiny_raw["datasets"]["remote"] = yaml.safe_load((repo / "config" / "mini.yaml").read_text())["datasets"]["fly_vnc"]  # per-section files
    tiny_raw["tasks"]["Remote-M"] = {"dataset": "remote", "label": "mito", "train": {"z": [0, 12]}, "test": {"z": [12, 16]}, "labelled_sections": [2, 9, 14, 19]}  # 19: in the volume, in no region
    tiny_raw["recommend"] = {"tasks": ["Remote-M"], "repeats": 1}
    needed = needed_sections(validate_config(tiny_raw), "remote")
    assert needed["main"]["image"] == list(range(16)) and needed["main"]["mito"] == [2, 9, 14]


def test_a_split_without_labelled_sections_is_a_clear_error_and_writes_nothing(tiny_raw, tmp_path):
    raw = _config(tiny_raw, tmp_path, test={"z": [14, 16]})  # sections 14, 15: none labelled
    with pytest.raises(ValueError, match="no labelled section in the test split"):
        jobs.prepare(raw, "Lab-M")
    assert not (jobs.prepared_dir(raw, "Lab-M") / "patches.json").exists()
    raw["tasks"]["Lab-M"] |= {"test": {"z": [12, 16]}, "validation": {"axis": "z", "fraction": 0.4}}  # val = sections 7-11: 7, 10
    raw["tasks"]["Lab-M"]["labelled_sections"] = [1, 4]  # ... but now not labelled
    with pytest.raises(ValueError, match="no labelled section in the val split"):
        jobs.prepare(raw, "Lab-M")


def test_a_task_without_test_region_prepares_an_empty_test_split(tiny_raw, tmp_path):
    raw = _config(tiny_raw, tmp_path)
    summary = jobs.prepare(raw, "Lab-M")
    folder = jobs.prepared_dir(raw, "Lab-M")
    test = load_split(folder, "test")
    assert test.image.shape == (0, 64, 64) and not summary["has_test"] and summary["test_patches"] == 0
    assert json.loads((folder / "patches.json").read_text())["splits"]["test"]["foreground"] is None
    cfg = validate_config(raw)
    with pytest.raises(ValueError, match="no test region to score on"):
        evaluate_model("unused.pt", test, cfg.patch_size, cfg.evaluation, torch.device("cpu"))
