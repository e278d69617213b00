"""Each preprocessing step against hand-computed expectations, and the streaming prepare on multi-volume datasets."""

import json

import numpy as np
import pytest

from vemtransfer.config import validate_config
from vemtransfer.data.datasets import needed_sections
from vemtransfer.data.datasets.store import SectionStore, write_section
from vemtransfer.data.prepare import enhance, neurite_interior, prepare_task, preprocess_image, preprocess_label, resize
from vemtransfer.report.table1 import table1


def test_resize_shrinks_by_area_and_enlarges_by_cubic():
    a = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    small = resize(a, (2, 2))
    assert small.tolist() == [[25, 45], [105, 125]]  # area = mean of each 2x2 block
    big = resize(np.array([[0, 100], [100, 0]], np.uint8), (4, 4))
    assert big.shape == (4, 4) and big[0, 0] < 50 < big[0, 3]
    assert resize(a, (4, 4)) is a


def test_neurite_interior_removes_boundaries_between_ids():
    ids = np.zeros((5, 6), np.uint32)
    ids[:, :3], ids[:, 3:] = 1, 2
    ids[0, 0] = 0
    interior = neurite_interior(ids)
    # columns 2 and 3 touch the other id; (0,0) is background and its neighbours touch it
    assert interior[:, 2].sum() == 0 and interior[:, 3].sum() == 0
    assert not interior[0, 0] and not interior[0, 1] and not interior[1, 0] and not interior[1, 1]
    assert interior[2:, 0].all() and interior[:, 4:].all()


def test_label_resize_thresholds_at_half():
    lab = np.zeros((4, 4), np.uint8)
    lab[:2, :2] = 255  # one full 2x2 block -> 1; a single pixel of a block -> 0.25 -> 0
    lab[3, 3] = 1
    out = preprocess_label(lab, {"resize_yx": [2, 2]})
    assert out.tolist() == [[1, 0], [0, 0]] and out.dtype == np.uint8


def test_crop_then_resize_then_enhance_order():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (70, 70), dtype=np.uint8)
    before = preprocess_image(raw, {"crop_yx": [35, 35], "resize_yx": [10, 10]})
    after = preprocess_image(raw, {"crop_yx": [35, 35], "resize_yx": [10, 10], "resize": "after_clahe"})
    assert np.array_equal(before, enhance(resize(raw[:35, :35], (10, 10))))
    assert np.array_equal(after, resize(enhance(raw[:35, :35]), (10, 10)))
    with pytest.raises(ValueError, match="uint8"):
        preprocess_image(raw.astype(np.uint16), {})


def _store(tmp_path, volumes, n=12, hw=(40, 40)):
    rng = np.random.default_rng(1)
    for v in volumes:
        for z in range(n):
            write_section(tmp_path, v, "image", z, rng.integers(0, 256, hw, dtype=np.uint8))
            write_section(tmp_path, v, "mito", z, (rng.random(hw) > 0.8).astype(np.uint8) * 255)
    return SectionStore(tmp_path)


def _task_raw(tmp_path, task, source):
    return {"datasets": {"src": source}, "tasks": {"T-M": {"dataset": "src", "label": "mito", **task}},
            "patches": {"size": [2, 16, 16], "stride": [2, 8, 8]},
            "experiment": {"sources": ["T-M"], "targets": ["T-M"]}, "resources_dir": str(tmp_path)}


def test_multi_volume_splits_keep_volumes_apart(tmp_path):
    store = _store(tmp_path / "raw", ["a", "b", "c"], n=5)
    raw = _task_raw(tmp_path, {"train": {"volumes": ["a", "b"]}, "test": {"volumes": ["c"]},
                               "preprocess": {"resize_yx": [32, 32]}, "validation": {"axis": "x", "fraction": 0.5}},
                    {"kind": "http_files", "base_url": "https://example.org/repo", "volumes": ["a", "b", "c"],
                     "image_pattern": "{volume}.nii.gz", "label_patterns": {"mito": "mito/{volume}.nii.gz"}})
    cfg = validate_config(raw)
    s = prepare_task(cfg.tasks["T-M"], store, tmp_path / "out", (2, 16, 16), (2, 8, 8), 0)
    assert s["splits"]["train"]["shape"] == [10, 32, 16] and s["splits"]["val"]["shape"] == [10, 32, 16]
    assert s["splits"]["train"]["blocks"] == [5, 5] and s["splits"]["test"]["shape"] == [5, 32, 32]
    z_origins = {o[0] for o in s["origins"]}
    assert z_origins == {0, 2, 5, 7}  # tiled per volume: no patch spans sections 4 and 5
    everything = {"image": None, "mito": None}
    assert needed_sections(cfg, "src") == {"a": everything, "b": everything, "c": everything}


def test_z_step_selection_and_z_validation(tmp_path):
    store = _store(tmp_path / "raw", ["main"], n=30)
    raw = _task_raw(tmp_path, {"train": {"z": [0, 24, 2]}, "test": {"z": [25, 29]},
                               "validation": {"axis": "z", "fraction": 0.2}},
                    {"kind": "empiar_slices", "base_url": "https://example.org/empiar", "raw_dir": "raw", "raw_pattern": "s{z:04d}.tif",
                     "label_zips": {"mito": "mito.zip"}})
    cfg = validate_config(raw)
    s = prepare_task(cfg.tasks["T-M"], store, tmp_path / "out", (2, 16, 16), (2, 8, 8), 0)
    assert s["splits"]["train"]["shape"][0] == 9 and s["splits"]["val"]["shape"][0] == 3  # 12 sections, 20 % -> 3
    zs = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 25, 26, 27, 28]
    assert needed_sections(cfg, "src") == {"main": {"image": zs, "mito": zs}}
    val = np.load(tmp_path / "out" / "val.label.npy")
    assert np.array_equal(val[0], (store.label("mito", "main", 18) != 0).astype(np.uint8))  # sections 18, 20, 22


def test_table1_columns_and_rescaled_voxels(tmp_path):
    summary = {"task": "RatLiver-M", "raw_section_shape": [7000, 7000], "z_step": 1, "origins": [[0, 0, 0]] * 5, "test_patches": 4,
               "splits": {k: {"shape": [18, 1000, 1000], "foreground": 0.1} for k in ("train", "val", "test")}}
    path = tmp_path / "patches.json"
    path.write_text(json.dumps(summary))
    raw = {"tasks": {"RatLiver-M": {"dataset": "ratliver", "preprocess": {"crop_yx": [3500, 3500], "resize_yx": [1000, 1000]}}},
           "datasets": {"ratliver": {"voxel_nm": [50, 8, 8]}}}
    row = table1([path], raw, {"RatLiver-M": {"train": 120, "test": 120}}).iloc[0]
    assert row["voxel_nm_prepared"] == "50 x 28 x 28" and row["voxel_nm_raw"] == "50 x 8 x 8"
    assert row["train_patches"] == 5 and row["paper_train_patches"] == 120 and row["test_patches"] == 4


def test_missing_section_is_a_clear_error(tmp_path):
    store = _store(tmp_path / "raw", ["main"], n=2)
    with pytest.raises(FileNotFoundError, match="was not downloaded"):
        store.image("main", 5)
    (tmp_path / "raw" / "sections" / "main" / "image" / "00001.tif").write_bytes(b"II*\x00broken")
    with pytest.raises(ValueError, match="not a readable"):
        store.image("main", 1)
    path = tmp_path / "raw" / "sections" / "main" / "image" / "00000.tif"
    path.write_bytes(path.read_bytes()[:600])  # truncated in the pixel data
    with pytest.raises(ValueError, match="not a readable"):
        store.image("main", 0)
