"""Table 3 without the heavy baselines: rows from the config, raw-resolution data, weights, the table builder."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from vemtransfer.baselines import BaselineUnavailable, require
from vemtransfer.baselines.rows import OURS, Row, ours_rows, parse_method, rows
from vemtransfer.baselines.weights import fetch_weights
from vemtransfer.config import ConfigError, load_config, validate_config
from vemtransfer.data.datasets.store import ArraySections
from vemtransfer.data.download import DownloadError
from vemtransfer.data.prepare import prepare_raw_split
from vemtransfer.report.table3 import table3, to_markdown

from loopback import FileServer


def test_paper_config_asks_for_every_row_of_the_papers_table3(repo):
    cfg = load_config(repo / "config" / "config.yaml")
    got = [(r.name, r.annotations, r.organelle) for r in rows(cfg.raw) + ours_rows(cfg.raw)]
    assert got == [
        ("MitoNet 1×", "None", "M"), ("MitoNet 2×", "None", "M"), ("MitoNet 4×", "None", "M"),
        ("MitoNet 1× fine-tuned", "Training masks (32 patches)", "M"), ("MitoNet 2× fine-tuned", "Training masks (32 patches)", "M"),
        ("MitoNet 1× fine-tuned", "All training masks", "M"), ("MitoNet 2× fine-tuned", "All training masks", "M"),
        ("SAM2", "None", "M"), ("SAM2 + prompt", "All bounding boxes", "M"), ("SAM2 + prompt", "All bounding boxes", "ER"),
        ("SAM2 + prompt", "All bounding boxes + masks", "ER"),
        ("Ours (best transferred + fine-tuned model)", "Training masks (100 patches)", "M"),
        ("Ours (best transferred + fine-tuned model)", "Training masks (100 patches)", "ER"),
    ]
    paper = __import__("yaml").safe_load((repo / "config" / "paper_results.yaml").read_text())["table3"]
    assert {(r.task, r.method) for r in rows(cfg.raw) + ours_rows(cfg.raw)} == {(t, m) for t, ms in paper.items() for m in ms}


def test_method_ids_parse_and_bad_ones_are_refused():
    assert parse_method("sam2_boxes_masks") == {"family": "sam2", "mode": "boxes_masks"}
    assert parse_method("mitonet_4x") == {"family": "mitonet", "set": None, "scale": 4}
    assert parse_method("mitonet-random32_2x") == {"family": "mitonet", "set": "random32", "scale": 2}
    with pytest.raises(ValueError, match="not a baseline method"):
        parse_method("mitonet_x")


def test_baseline_config_errors_name_the_key(tiny_raw):
    tiny_raw["baselines"] = {"sam2": {"weights": {"url": "http://x/a.pt", "sha256": "0" * 64}, "boxes": {"tasks": ["Nope-M"]}},
                             "mitonet": {"weights": {"api_url": "http://x/api", "file": "m.pth"}, "finetune": {"tasks": ["SynthLiver-M"]}}}
    with pytest.raises(ConfigError) as exc:
        validate_config(tiny_raw)
    assert "baselines.sam2.boxes.tasks[0]: unknown task id 'Nope-M'" in str(exc.value)
    assert "baselines.mitonet.finetune.sets" in str(exc.value)
    tiny_raw["baselines"]["sam2"]["weights"] = {"url": "http://x/a.pt"}  # no checksum
    with pytest.raises(ConfigError, match="baselines.sam2.weights"):
        validate_config(tiny_raw)


def test_missing_extra_names_the_install_command():
    with pytest.raises(BaselineUnavailable, match=r"scripts/install.sh --baselines"):
        require("vemtransfer_no_such_module")
    with pytest.raises(BaselineUnavailable, match=r"pip install --no-deps 'empanada-napari"):
        require(locate_only=("vemtransfer_no_such_module",))


def test_raw_split_is_cropped_not_resized_and_region_scaled_back(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (6, 40, 60), dtype=np.uint8)
    label = (rng.random((6, 40, 60)) > 0.7).astype(np.uint16) * 3
    task = validate_config({
        "datasets": {"s": {"kind": "local", "image": "i.tif", "labels": {"mito": "l.tif"}, "voxel_nm": [30, 8, 8]}},
        "tasks": {"A-M": {"dataset": "s", "label": "mito", "train": {"z": [0, 4]}, "test": {"z": [4, 6], "x": [5, 10]},
                          "preprocess": {"crop_yx": [40, 40], "resize_yx": [20, 20]}}},
        "experiment": {"sources": ["A-M"], "targets": ["A-M"], "finetune_patches": 1, "scenarios": []},
        "patches": {"size": [2, 8, 8], "stride": [2, 8, 8]},
    }).tasks["A-M"]
    summary = prepare_raw_split(task, ArraySections(image, {"mito": label}), "test", tmp_path)
    got_image, got_label = np.load(tmp_path / "test.image.npy"), np.load(tmp_path / "test.label.npy")
    # prepared x 5..10 of a 40 -> 20 resize is raw x 10..20 of the 40-pixel crop
    assert np.array_equal(got_image, image[4:6, :40, 10:20])
    assert np.array_equal(got_label, (label[4:6, :40, 10:20] != 0).astype(np.uint8))
    assert summary["shape"] == [2, 40, 10] and summary["raw_yx"] == [[None, None], [10, 20]]
    with pytest.raises(ValueError, match="train or test"):
        prepare_raw_split(task, ArraySections(image, {"mito": label}), "val", tmp_path)


def test_weights_from_url_and_zenodo_record_are_verified(tmp_path):
    data = b"\x00weights" * 1000
    with FileServer(tmp_path / "srv") as srv:
        url = srv.put("sam2.pt", data)
        rec = fetch_weights({"url": url, "sha256": hashlib.sha256(data).hexdigest()}, tmp_path / "w" / "sam2.pt")
        assert (tmp_path / "w" / "sam2.pt").read_bytes() == data and rec["sha256"] == hashlib.sha256(data).hexdigest()
        with pytest.raises(DownloadError, match="verification"):
            fetch_weights({"url": url, "sha256": "0" * 64}, tmp_path / "w" / "bad.pt")
        assert not (tmp_path / "w" / "bad.pt").exists()
        link = srv.put("files/MitoNet_v1.pth", data)
        api = srv.put("api/records/6861565", json.dumps({"files": [
            {"key": "MitoNet_v1.pth", "size": len(data), "checksum": "md5:" + hashlib.md5(data).hexdigest(), "links": {"self": link}}]}).encode())
        rec = fetch_weights({"api_url": api, "file": "MitoNet_v1.pth"}, tmp_path / "w" / "MitoNet_v1.pth")
        assert rec["md5"] == hashlib.md5(data).hexdigest() and rec["record"] == api
        with pytest.raises(DownloadError, match="no file 'MitoNet_v2.pth'.*MitoNet_v1.pth"):
            fetch_weights({"api_url": api, "file": "MitoNet_v2.pth"}, tmp_path / "w" / "v2.pth")


def _metric(method: str, task: str, fg: float) -> dict:
    return {"method": method, "task": task, "iou_fg": fg, "iou_mean": (fg + 0.9) / 2, "test_sections": [0, 1], "seconds": 1.0, "device": "cpu"}


def test_table3_fills_every_row_with_paper_and_difference_and_ours_from_table2():
    base = [Row("mitonet_2x", "Rat-M", "MitoNet 2×", "None"), Row("sam2_boxes", "Rat-ER", "SAM2 + prompt", "All bounding boxes")]
    ours = [Row(OURS, "Rat-M", "Ours", "Training masks (100 patches)"), Row(OURS, "Rat-ER", "Ours", "Training masks (100 patches)")]
    long = pd.DataFrame([
        # NoPretrain and the diagonal never count as "best transferred"
        {"source": "NoPretrain", "target": "Rat-M", "budget": "p100", "mean": 99.0, "n": 3, "metric": "iou_fg"},
        {"source": "Rat-M", "target": "Rat-M", "budget": "p100", "mean": 98.0, "n": 3, "metric": "iou_fg"},
        {"source": "A-N", "target": "Rat-M", "budget": "p100", "mean": 90.0, "n": 3, "metric": "iou_fg"},
        {"source": "B-M", "target": "Rat-M", "budget": "p100", "mean": 91.5, "n": 3, "metric": "iou_fg"},
        {"source": "B-M", "target": "Rat-M", "budget": "p25", "mean": 97.0, "n": 3, "metric": "iou_fg"},
        {"source": "B-M", "target": "Rat-M", "budget": "p100", "mean": 95.0, "n": 3, "metric": "iou_mean"},
    ])
    paper = {"Rat-M": {"mitonet_2x": 43.80, "ours": 92.37}, "Rat-ER": {"sam2_boxes": 22.24}}
    t = table3([_metric("mitonet_2x", "Rat-M", 0.5), _metric("sam2_boxes", "Rat-ER", 0.2)], base, ours, long, "p100", paper)
    assert list(t.method) == ["mitonet_2x", "sam2_boxes", OURS]  # no Table 2 cell for Rat-ER: its ours row is left out
    assert t.iou_fg.tolist() == pytest.approx([50.0, 20.0, 91.5])
    assert t.ours_minus_paper.tolist() == pytest.approx([50.0 - 43.80, 20.0 - 22.24, 91.5 - 92.37])
    assert t.iloc[2].detail.startswith("B-M -> Rat-M, p100") and t.iloc[2].iou_mean == 95.0
    md = to_markdown(t, demo=True, sections=[0, 2])
    assert "DEMO OUTPUT" in md and "**91.50**" in md and "**20.00**" in md and "a subset" in md
    with pytest.raises(ValueError, match="no metrics for Table 3 row sam2_boxes on Rat-ER"):
        table3([_metric("mitonet_2x", "Rat-M", 0.5)], base, ours, long, "p100", paper)
