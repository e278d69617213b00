"""The fingerprint of a prepared task and the plan derived from it (vemtransfer.planning.fingerprint, vemtransfer.planning.plan)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from vemtransfer.config import validate_config
from vemtransfer.data.splits import IGNORE
from vemtransfer.planning.fingerprint import fingerprint, object_diameters
from vemtransfer.planning.plan import PLAN_FILE, apply_plan, describe, make_plan, plan_task, read_plan, window_cells

from workflow_helpers import snakemake

REPO = Path(__file__).resolve().parents[1]


def _discs(shape: tuple[int, int, int], diameter: int, spacing: int) -> np.ndarray:
    """Sections of discs of ``diameter`` px on a grid ``spacing`` apart (the same in every section)."""
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    label = np.zeros(shape[1:], np.uint8)
    for cy in range(spacing // 2, shape[1] - diameter, spacing):
        for cx in range(spacing // 2, shape[2] - diameter, spacing):
            label[(yy - cy) ** 2 + (xx - cx) ** 2 <= (diameter / 2) ** 2] = 1
    return np.repeat(label[None], shape[0], 0)


def _prepared(folder: Path, label: np.ndarray, blocks: list[int], seed: int = 0) -> Path:
    """A prepared task's training split and patch index, as prepare_task writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, label.shape[1:], dtype=np.uint8)
    image = np.stack([np.where(rng.random(base.shape) < 0.9, base, 128) for _ in range(len(label))]).astype(np.uint8)
    np.save(folder / "train.image.npy", image)
    np.save(folder / "train.label.npy", label)
    index = {"task": "Synth-M", "fold": None, "raw_section_shape": list(label.shape[1:]), "z_step": 1, "preprocess": {},
             "splits": {"train": {"blocks": blocks}}}
    (folder / "patches.json").write_text(json.dumps(index))
    return folder


def _raw(**plan) -> dict:
    """A cpu-recipe job config (recipe applied), as plan_task receives it."""
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["recipe"] = "cpu"
    for key in ("patches", "model", "train"):
        cfg.pop(key, None)
    cfg["plan"] = plan
    return dict(validate_config(cfg).raw)


def test_object_diameters_are_the_equivalent_circles_of_the_components():
    d = object_diameters(_discs((1, 200, 200), 20, 50)[0])
    assert len(d) == 16 and np.allclose(d, 20, atol=1.0)


def test_fingerprint_measures_objects_foreground_voxels_and_neighbours(tmp_path):
    label = _discs((6, 256, 256), 24, 64)
    label[1] = IGNORE  # an unlabelled section
    fp = fingerprint(_prepared(tmp_path / "t", label, [6]), voxel_nm=(50, 5, 5))
    assert fp["voxel_nm"] == [50, 5, 5] and fp["anisotropy"] == 10
    assert fp["sections"] == 6 and fp["section_yx"] == [256, 256] and fp["labelled_sections"] == 5
    assert fp["diameter_px"]["median"] == pytest.approx(24, abs=1.5) and fp["objects"] == 5 * 16
    assert fp["foreground_fraction"] == pytest.approx(16 * np.pi * 12**2 / 256**2, rel=0.05)
    assert not fp["contiguous"] and fp["labelled_runs"] == 2  # sections 0 and 2-5
    assert fp["neighbour_correlation"] > 0.5 and fp["smallest_labelled_block"] == 6


def test_planned_window_scales_with_the_object_diameter(tmp_path):
    small = make_plan(fingerprint(_prepared(tmp_path / "a", _discs((4, 512, 512), 12, 64), [4])), _raw())
    large = make_plan(fingerprint(_prepared(tmp_path / "b", _discs((4, 512, 512), 48, 128), [4])), _raw())
    w_small, w_large = small["choices"]["window"]["value"], large["choices"]["window"]["value"]
    assert w_small[0] == w_large[0] == 3  # neighbours: the recipe's depth
    assert 64 <= w_small[1] < w_large[1] and w_large[1] % 32 == 0 and w_small[1] == w_small[2]
    assert small["choices"]["batch_size"]["value"] > large["choices"]["batch_size"]["value"] >= 4  # voxels per step kept
    assert all(c["reason"] for c in large["choices"].values())


def test_isolated_sections_get_depth_one_windows_and_a_2d_network(tmp_path):
    fp = fingerprint(_prepared(tmp_path / "t", _discs((4, 512, 512), 30, 100), [1, 1, 1, 1]))
    assert fp["smallest_labelled_block"] == 1 and fp["neighbour_correlation"] is None
    plan = make_plan(fp, _raw())
    assert plan["choices"]["window"]["value"][0] == 1 and "isolated" in plan["choices"]["window"]["reason"]
    assert plan["choices"]["planar_levels"]["value"] == 4  # every level of the cpu recipe's widths
    assert plan["choices"]["validation_size"]["value"][0] == 1
    assert window_cells([(0, 0, 0), (1, 0, 0), (3, 5, 5)], [1, 1, 2], 2) == [(3, 5, 5)]
    assert window_cells([(0, 0, 0), (1, 0, 0)], [1, 1], 1) == [(0, 0, 0), (1, 0, 0)]


def test_pinned_and_config_values_win_over_the_plan(tmp_path):
    fp = fingerprint(_prepared(tmp_path / "t", _discs((4, 512, 512), 30, 100), [4]))
    pinned = make_plan(fp, _raw(window=[1, 96, 96], minutes=2))
    assert pinned["choices"]["window"] == {"value": [1, 96, 96], "by": "plan.window", "reason": "pinned in the config (plan.window)"}
    assert pinned["choices"]["steps"]["by"] == "plan" and pinned["choices"]["steps"]["value"]["steps"] > 0
    raw = _raw()
    raw["train"]["batch_size"] = 2  # differs from the cpu recipe's 9: the config's own choice
    own = make_plan(fp, raw)
    assert own["choices"]["batch_size"]["value"] == 2 and own["choices"]["batch_size"]["by"] == "train.batch_size"


def test_plan_json_is_written_read_and_applied_only_when_asked(tmp_path):
    folder = _prepared(tmp_path / "t", _discs((2, 256, 256), 30, 100), [1, 1])
    plan = plan_task(folder, _raw(apply=True), voxel_nm=(50, 10, 10))
    assert read_plan(folder / PLAN_FILE) == json.loads(json.dumps(plan))
    assert "window: [1, " in describe(plan)
    cfg = validate_config({k: v for k, v in _raw().items()})
    planned = apply_plan(cfg, read_plan(folder / PLAN_FILE))
    assert planned.patch_size == tuple(plan["choices"]["window"]["value"]) and planned.model.planar_levels == 4
    assert apply_plan(planned, None, None) is planned
    assert apply_plan(cfg, {**plan, "apply": False}) is cfg
    assert apply_plan(cfg, plan, init_planar_levels=2).model.planar_levels == 2  # a fine-tune keeps its source's network


@pytest.mark.workflow
def test_demo_dry_run_plans_every_trained_task(tmp_path):
    res = snakemake(tmp_path, "--configfile", str(REPO / "config" / "demo.yaml"), "-n", "--quiet", "rules", timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "plan_task" in res.stdout + res.stderr
