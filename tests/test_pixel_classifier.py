"""The random-forest pixel classifier baseline: learns, ignores unlabelled pixels, is seeded; its rule runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from vemtransfer.baselines import pixel_classifier as pc
from vemtransfer.baselines.rows import rows
from vemtransfer.report.baseline_check import baseline_comparison

from workflow_helpers import snakemake

FAST = pc.ForestSettings(trees=10, samples=4000, sigmas=(1.0, 3.5), seed=3)


def blobs(z: int = 4, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dark textured discs (about 8 % of the pixels) on a noisy bright background, like mitochondria in EM."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    label = np.zeros((z, size, size), np.uint8)
    for k in range(z):
        for _ in range(6):
            cy, cx, r = rng.integers(6, size - 6), rng.integers(6, size - 6), rng.integers(3, 6)
            label[k][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    image = np.where(label == 1, 90.0, 150.0) + rng.normal(0, 25, label.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label


def iou(pred: np.ndarray, label: np.ndarray) -> float:
    tp, fp, fn = pc.iou_counts(pred, label)
    return tp / (tp + fp + fn)


def test_features_have_the_named_channels_and_are_finite() -> None:
    image, _ = blobs(1, 40)
    f = pc.section_features(image[0], (1.0, 5.0))
    assert f.shape == (40, 40, len(pc.feature_names((1.0, 5.0)))) == (40, 40, 1 + 2 * len(pc.PER_SIGMA))
    assert f.dtype == np.float32 and np.isfinite(f).all()


def test_learns_synthetic_blobs_far_better_than_chance() -> None:
    image, label = blobs(6)
    run = pc.fit_and_predict((image[:3], label[:3]), image[4:], FAST, val=(image[3:4], label[3:4]))
    score = iou(run.test_prob > run.threshold, label[4:])
    chance = label[4:].mean()  # IoU of predicting everything foreground
    assert score > 0.6 and score > 5 * chance, (score, chance)
    assert 0 < run.threshold < 1 and run.val_iou is not None and run.val_iou > 0.6
    assert run.train_pixels == 2 * min(FAST.samples // 2, int((label[:3] == 1).sum()))


def test_unlabelled_pixels_are_never_sampled_and_the_sample_is_balanced() -> None:
    _, label = blobs(2)
    label[:, :, :32] = pc.IGNORE
    index = pc.sample_pixels(label, 400, seed=0)
    drawn = label.reshape(-1)[index]
    assert set(np.unique(drawn)) == {0, 1} and (drawn == 1).sum() == (drawn == 0).sum() == 200
    assert (index % 64 >= 32).all()  # only the labelled half of every row
    with pytest.raises(ValueError, match="no pixel of class 1"):
        pc.sample_pixels(np.where(label == 1, pc.IGNORE, label), 100, seed=0)


def test_ignored_labels_do_not_teach_the_forest() -> None:
    """Flipped labels marked IGNORE must not matter: the forest equals one trained without those pixels' labels at all."""
    image, label = blobs(3)
    wrong = label.copy()
    wrong[0] = pc.IGNORE  # a whole section nobody labelled
    clean = pc.train_forest(image, wrong, FAST)
    assert iou(pc.predict_sections(clean, image[1:2], FAST.sigmas)[0] > 0.5, label[1]) > 0.5
    scored = np.where(wrong == pc.IGNORE, pc.IGNORE, label)
    assert pc.iou_counts(np.ones_like(label, bool), scored) == pc.iou_counts(np.ones_like(label[1:], bool), label[1:])


def test_same_seed_same_forest_and_prediction() -> None:
    image, label = blobs(3)
    a = pc.predict_sections(pc.train_forest(image[:2], label[:2], FAST), image[2:], FAST.sigmas)
    b = pc.predict_sections(pc.train_forest(image[:2], label[:2], FAST), image[2:], FAST.sigmas)
    np.testing.assert_array_equal(a, b)


def test_threshold_is_the_best_pooled_cut() -> None:
    prob = np.array([[[0.1, 0.4, 0.6, 0.9]]], np.float32)
    label = np.array([[[0, 1, 1, 255]]], np.uint8)
    threshold, best = pc.choose_threshold([(prob, label)])
    assert threshold < 0.4 and best == 1.0
    assert pc.choose_threshold([(prob, label)], [0.5]) == (0.5, 0.5)


def test_comparison_says_plainly_when_the_network_does_not_beat_it() -> None:
    rf = {"val_iou_fg": 0.6, "iou_fg": 0.5, "seconds": 40.0}
    assert "does **not** beat" in baseline_comparison(rf, 0.55) and "prefer it" in baseline_comparison(rf, 0.55)
    better = baseline_comparison(rf, 0.7, 0.65)
    assert "by 10.0 points (70.0 % vs 60.0 %)" in better and "test sections" in better and "**not**" not in better


@pytest.mark.workflow
def test_segment_pixel_classifier_rule_runs_and_is_a_table3_row(repo: Path, tmp_path: Path, tiny_raw: dict) -> None:
    tiny_raw["baselines"] = {"pixel_classifier": {"tasks": ["SynthLiver-M"], "trees": 5, "samples": 2000, "sigmas": [1.0, 3.5]}}
    tiny_raw["resources"]["baselines"] = {"threads": 1, "mem_mb": 1000, "runtime": 5}
    assert [(r.method, r.task) for r in rows(tiny_raw)] == [("pixel_classifier", "SynthLiver-M")]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_raw))
    target = Path(tiny_raw["results_dir"]) / "baselines" / "SynthLiver-M" / "pixel_classifier.json"
    lint = snakemake(tmp_path, "--cores", "1", "--lint", "--configfile", str(config), timeout=300)
    assert "segment_pixel_classifier" not in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    res = snakemake(tmp_path, "--cores", "1", str(target), "--configfile", str(config), timeout=600)
    assert res.returncode == 0, res.stderr + res.stdout
    record = json.loads(target.read_text())
    assert record["method"] == "pixel_classifier" and record["task"] == "SynthLiver-M" and 0 <= record["iou_fg"] <= 1
    assert record["val_iou_fg"] is not None and 0 < record["threshold"] < 1 and record["seed"] and record["config_hash"]
    assert target.with_suffix(".npz").is_file()
    assert (Path(tiny_raw["logs_dir"]) / "segment_pixel_classifier").is_dir()


def test_config_takes_the_pixel_classifier_alone_with_defaults_and_checks_its_tasks(tiny_raw: dict) -> None:
    from vemtransfer.config import ConfigError, validate_config

    tiny_raw["baselines"] = {"pixel_classifier": {"tasks": ["SynthLiver-M"]}}
    spec = validate_config(tiny_raw).raw["baselines"]["pixel_classifier"]
    assert spec["trees"] == 100 and spec["threshold"] == "validation" and spec["sigmas"] == list(pc.SIGMAS)
    tiny_raw["baselines"]["pixel_classifier"]["tasks"] = ["Nope-M"]
    with pytest.raises(ConfigError, match=r"baselines.pixel_classifier.tasks\[0\]: unknown task id 'Nope-M'"):
        validate_config(tiny_raw)
