"""The real download -> prepare -> Table 1 chain against a loopback server serving the real layouts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vemtransfer.config import validate_config
from vemtransfer.data.datasets.store import SectionStore
from vemtransfer.data.download import DownloadError

import job_helpers as jobs
from loopback import fake_datasets_server
from workflow_helpers import snakemake


@pytest.fixture
def loopback(tmp_path: Path):
    with fake_datasets_server(tmp_path) as (server, info):
        yield server, info


def loopback_config(root: Path, datasets: dict) -> dict:
    """The paper's seven tasks, cut from the tiny loopback datasets with the paper's rules."""
    datasets = copy.deepcopy(datasets)
    datasets["snemi3d"]["members"] = {"image": "image/train-input.tif", "neurite": "seg/train-labels.tif"}
    liver = {"train": {"z": [1000, 1030, 5]}, "test": {"z": [2000, 2030, 5]}, "preprocess": {"resize_yx": [32, 48]}}
    rat_pp = {"crop_yx": [60, 60], "resize_yx": [40, 40]}
    return {
        "results_dir": str(root / "results"), "resources_dir": str(root / "resources"), "logs_dir": str(root / "logs"),
        "paper_results": str(Path(__file__).resolve().parents[1] / "config" / "paper_results.yaml"),
        "datasets": datasets,
        "tasks": {
            "SNEMI3D-N": {"dataset": "snemi3d", "label": "neurite", "train": {"z": [0, 72]}, "test": {"z": [82, 100]},
                          "preprocess": {"label_rule": "neurite_interior"}},
            "Urocell-M": {"dataset": "urocell", "label": "mito", "preprocess": {"resize_yx": [50, 50], "resize": "after_clahe"},
                          "folds": [{"train": {"volumes": ["fib1-1-0-3", "fib1-3-2-1"]}, "test": {"volumes": ["fib1-0-0-0"]}},
                                    {"train": {"volumes": ["fib1-0-0-0", "fib1-1-0-3"]}, "test": {"volumes": ["fib1-3-2-1"]}}]},
            "MouseLiver-M": {"dataset": "empiar10791", "label": "mito", **liver},
            "MouseLiver-ER": {"dataset": "empiar10791", "label": "er", **liver},
            "MouseLiver-LD": {"dataset": "empiar10791", "label": "ld", **liver},
            "RatLiver-M": {"dataset": "ratliver", "label": "mito", "train": {"z": [19, 37]}, "test": {"z": [37, 55]}, "preprocess": rat_pp},
            "RatLiver-ER": {"dataset": "ratliver", "label": "er", "train": {"z": [18, 36], "x": [0, 24]},
                            "test": {"z": [18, 36], "x": [24, 40]}, "preprocess": rat_pp},
        },
        "patches": {"size": [2, 16, 16], "stride": [2, 8, 8]},
        "experiment": {"sources": ["SNEMI3D-N"], "targets": ["RatLiver-M"]},
    }


def _fetch(cfg_raw: dict, dataset: str) -> list[dict]:
    return jobs.download(cfg_raw, dataset)


def test_each_kind_stores_exactly_the_needed_sections(loopback, tmp_path):
    server, info = loopback
    raw = loopback_config(tmp_path, info["datasets"])
    for dataset in ("snemi3d", "urocell", "empiar10791", "ratliver"):
        _fetch(raw, dataset)
    res = Path(raw["resources_dir"]) / "raw"
    snemi = SectionStore(res / "snemi3d")
    assert snemi.indices("main") == list(range(72)) + list(range(82, 100))
    assert np.array_equal(snemi.label("neurite", "main", 5), info["truth"]["snemi3d"]["labels"][5])
    assert not (res / "snemi3d" / "snemi.zip").exists()
    uro = SectionStore(res / "urocell")
    assert uro.volumes() == ("fib1-0-0-0", "fib1-1-0-3", "fib1-3-2-1")  # only the volumes the task uses
    assert np.array_equal(uro.image("fib1-0-0-0", 3), info["truth"]["urocell"]["fib1-0-0-0"]["image"][3])
    emp = SectionStore(res / "empiar10791")
    assert emp.indices("main") == info["empiar10791"]["z"]
    for z in info["empiar10791"]["z"]:
        assert np.array_equal(emp.label("er", "main", z), info["truth"]["empiar10791"]["er"][z])
    requested = server.behaviour.paths()
    assert not any(f".{z:04d}.tif" in p for z in info["empiar10791"]["decoy_z"] for p in requested)
    manifest = json.loads((res / "empiar10791" / "manifest.json").read_text())
    zips = [r for r in manifest if "label" in r]
    assert len(zips) == 3 and all(r["bytes_fetched"] < r["size"] / 4 for r in zips)
    zip_gets = [r for r in server.behaviour.gets() if r[1].endswith(".zip") and "snemi" not in r[1]]
    assert zip_gets and all(rng is not None for _, _, rng in zip_gets)  # range reads only
    rat = SectionStore(res / "ratliver")
    assert rat.indices("main") == list(range(18, 55))
    assert np.array_equal(rat.label("mito", "main", 40), info["truth"]["ratliver"]["mito"][40])


def test_faults_give_clear_errors_and_leave_no_manifest(loopback, tmp_path):
    server, info = loopback
    raw = loopback_config(tmp_path, info["datasets"])
    manifest = Path(raw["resources_dir"]) / "raw" / "snemi3d" / "manifest.json"
    url_path = "/records/7142003/files/snemi.zip"
    server.behaviour.not_found = {url_path}
    with pytest.raises(DownloadError, match="snemi.zip: HTTP 404"):
        _fetch(raw, "snemi3d")
    server.behaviour.not_found = set()
    server.behaviour.corrupt = {url_path: b"PK" + b"\0" * 5000}
    with pytest.raises(DownloadError, match="snemi.zip.*md5"):
        _fetch(raw, "snemi3d")
    server.behaviour.corrupt = {}
    server.behaviour.html = True
    with pytest.raises(DownloadError, match="HTML"):
        _fetch(raw, "snemi3d")
    assert not manifest.exists() and not list(manifest.parent.glob("*.zip*"))
    server.behaviour.html = False
    before = len(server.behaviour.gets())
    server.behaviour.drop_after, server.behaviour.drop_times = 100_000, 1  # cut once mid-file
    records = _fetch(raw, "snemi3d")  # retried (resumption itself: tests/test_download.py)
    assert records[0]["md5"] == info["snemi3d"]["md5"] and manifest.exists()
    assert [p for _, p, _ in server.behaviour.gets()[before:]] == [url_path, url_path]


@pytest.mark.workflow
def test_download_prepare_table1_run_under_snakemake(loopback, tmp_path, repo):
    server, info = loopback
    raw = loopback_config(tmp_path, info["datasets"])
    config = tmp_path / "loopback.yaml"
    config.write_text(yaml.safe_dump(raw))
    table = Path(raw["results_dir"]) / "tables" / "table1.csv"
    res = snakemake(tmp_path, str(table), "--cores", "2", "--configfile", str(config), timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    t = pd.read_csv(table)
    assert sorted(t.task.unique()) == sorted(raw["tasks"])
    folds = t[t.task == "Urocell-M"].set_index("fold")  # one row per fold, each with its own prepared data
    assert list(folds.index) == [1, 2] and (folds["test_shape"] == "24 x 50 x 50").all()
    prep = Path(raw["resources_dir"]) / "prepared" / "Urocell-M"
    fold_tests = [np.load(prep / f"fold{k}" / "test.label.npy") for k in (1, 2)]
    assert not np.array_equal(*fold_tests)  # different held-out volumes
    t = t[t.fold.isna() | (t.fold == 1)].set_index("task")
    assert t.loc["RatLiver-M", "voxel_nm_prepared"] == "50 x 12 x 12"  # 60 px cropped -> 40 px at 8 nm
    assert t.loc["MouseLiver-M", "voxel_nm_prepared"] == "40 x 12 x 10.67"  # z step 5; 48x64 -> 32x48
    assert t.loc["Urocell-M", "train_shape"] == "48 x 34 x 50"  # 2 volumes x 24; val takes 16 of 50 rows
    assert t.loc["RatLiver-ER", "test_shape"] == "18 x 40 x 16"
    assert t.loc["SNEMI3D-N", "paper_train_patches"] == 3388
    assert (t["train_patches"] > 0).all()
    cfg = validate_config(raw)
    snemi = np.load(Path(raw["resources_dir"]) / "prepared" / "SNEMI3D-N" / "test.label.npy")
    labels = info["truth"]["snemi3d"]["labels"][82:100]
    assert snemi.shape == (18, 64, 64) and snemi.sum() < (labels != 0).sum()  # boundaries removed
    assert cfg.tasks["SNEMI3D-N"].preprocess["label_rule"] == "neurite_interior"
    again = snakemake(tmp_path, str(table), "--cores", "2", "--configfile", str(config), "-n", timeout=120)
    assert "Nothing to be done" in again.stdout + again.stderr
