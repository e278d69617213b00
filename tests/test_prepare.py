import json

import numpy as np
import pytest

from vemtransfer.config import validate_config
from vemtransfer.data.prepare import carve_validation, enhance, held_out_volumes
from vemtransfer.data.splits import load_split

import job_helpers as jobs


def test_validation_is_the_far_end_of_the_training_region_and_at_least_a_patch():
    train, val = carve_validation((18, 1000, 1000), "y", 0.1, (18, 160, 160))
    assert train[1] == slice(0, 840) and val[1] == slice(840, 1000)  # 10 % < one patch -> 160 rows
    train, val = carve_validation((72, 1024, 1024), "z", 0.25, (18, 160, 160))
    assert train[0] == slice(0, 54) and val[0] == slice(54, 72)
    with pytest.raises(ValueError, match="validation"):
        carve_validation((18, 200, 1000), "y", 0.15, (18, 160, 160))


def test_enhance_keeps_uint8_and_raises_local_contrast():
    rng = np.random.default_rng(0)
    dull = (120 + rng.integers(0, 8, (64, 64))).astype(np.uint8)
    out = enhance(dull)
    assert out.dtype == np.uint8 and out.shape == dull.shape
    assert out.std() > dull.std()


def test_prepare_writes_disjoint_splits_and_a_patch_index(tiny_raw):
    cfg = validate_config(tiny_raw)
    summary = jobs.prepare(tiny_raw, "SynthLiver-M")
    folder = jobs.prepared_dir(cfg.raw, "SynthLiver-M")
    shapes = {s: load_split(folder, s).image.shape for s in ("train", "val", "test")}
    # 25 % of 64 rows is less than a 32-row patch, so validation takes the last 32 rows
    assert shapes == {"train": (8, 32, 64), "val": (8, 32, 64), "test": (4, 64, 64)}
    index = json.loads((folder / "patches.json").read_text())
    assert index == summary
    assert len(index["origins"]) == 3 * 1 * 3 and sorted(index["subset_order"]) == list(range(9))
    test = load_split(folder, "test")
    assert set(np.unique(test.label)) <= {0, 1} and 0 < test.label.mean() < 0.5


def test_a_dataset_without_the_label_is_a_clear_error(tiny_raw):
    from vemtransfer.config import Region, TaskSpec
    from vemtransfer.data.datasets.store import ArraySections
    from vemtransfer.data.prepare import prepare_task

    task = TaskSpec("X-ER", "s", "er", Region(), Region(), "y", 0.2)
    with pytest.raises(ValueError, match="no 'er' labels"):
        prepare_task(task, ArraySections(np.zeros((4, 8, 8), np.uint8), {"mito": np.zeros((4, 8, 8))}), "unused", (2, 4, 4), (2, 4, 4), 0)


def test_validation_along_z_of_several_volumes_holds_out_the_last_whole_volumes() -> None:
    assert held_out_volumes([1, 1, 1], 0.15) == ([1, 1], [1])  # isolated sections: the last one, whole
    assert held_out_volumes([10, 4, 3], 0.3) == ([10], [4, 3])  # 7 of 17 sections: two volumes to reach 30 %
    assert held_out_volumes([10, 20], 0.9) == ([10], [20])  # one volume always stays to train on
