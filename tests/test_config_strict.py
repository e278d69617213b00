"""One schema, strict everywhere: every dataset kind takes only the keys it reads, ids follow the
workflow's patterns, and regions lie inside their volumes before any job runs."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import tifffile
import yaml
import zarr

from vemtransfer.config import DATASET_ID_PATTERN, SCHEMA_PATH, TASK_ID_PATTERN, ConfigError, load_config, validate_config
from vemtransfer.data.datasets import DOWNLOAD_KINDS
from vemtransfer.data.file_checks import region_errors, volume_header

SHA = "0" * 64
SPECS = {  # a valid spec of every kind, with every optional key it reads
    "generated": {"kind": "generated", "tissue": "kidney", "shape": [12, 64, 64], "seed": 1, "voxel_nm": [32, 8, 8]},
    "local": {"kind": "local", "image": "stack.tif", "labels": {"mito": "mito.tif"}, "voxel_nm": [30, 4, 4]},
    "zenodo_file": {"kind": "zenodo_file", "url": "https://zenodo.org/records/1/files/a.zip", "md5": "0" * 32, "sha256": SHA,
                    "members": {"image": "image.tif", "mito": "mito.tif"}, "voxel_nm": [30, 6, 6]},
    "zenodo_record": {"kind": "zenodo_record", "api_url": "https://zenodo.org/api/records/1",
                      "image": {"file": "img.zip", "member": r"z(?P<z>\d+)\.tif$"},
                      "labels": {"mito": {"file": "mito.zip", "member": r"s(?P<z>\d{3})\.png$"}}, "voxel_nm": [50, 8, 8]},
    "http_files": {"kind": "http_files", "base_url": "https://example.org/repo", "volumes": ["a", "b"],
                   "image_pattern": "data/{volume}.nii.gz", "label_patterns": {"mito": "mito/{volume}.nii.gz"}, "voxel_nm": [15, 16, 16]},
    "empiar_slices": {"kind": "empiar_slices", "base_url": "https://example.org/empiar", "raw_dir": "raw",
                      "raw_pattern": "slice.{z:04d}.tif", "label_zips": {"mito": "seg/mito.zip"}, "voxel_nm": [8, 8, 8]},
    "section_files": {"kind": "section_files", "base_url": "https://example.org/c0ffee", "sha256sums": "sums.sha256",
                      "sections": [0, 20], "image": {"pattern": "raw/{z:02d}.tif", "z_offset": 0},
                      "labels": {"mito": {"pattern": "mito/{z:02d}.png", "z_offset": 0, "threshold": 128},
                                 "neurite": {"file": "gt.h5.gz", "dataset": "stack", "lookup": "transforms"}},
                      "voxel_nm": [50, 4.6, 4.6]},
}
MISSPELT = [  # (kind, path of the mapping, misspelt key, the key it should have been)
    ("generated", (), "sed", "seed"),
    ("local", (), "voxel_size", "voxel_nm"),
    ("zenodo_file", (), "md5s", "md5"),
    ("zenodo_file", (), "member", "members"),
    ("zenodo_record", (), "label", "labels"),
    ("zenodo_record", ("labels", "mito"), "members", "member"),
    ("http_files", (), "label_pattern", "label_patterns"),
    ("empiar_slices", (), "label_zip", "label_zips"),
    ("section_files", (), "sha256sum", "sha256sums"),
    ("section_files", ("labels", "mito"), "treshold", "threshold"),
    ("section_files", ("labels", "neurite"), "lookups", "lookup"),
]


def _error(raw) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_config(raw)
    return str(exc.value)


def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_kind_validates_with_every_key_it_reads(tiny_raw, kind):
    tiny_raw["datasets"]["src"] = copy.deepcopy(SPECS[kind])
    assert validate_config(tiny_raw).raw["datasets"]["src"]["kind"] == kind


@pytest.mark.parametrize(("kind", "at", "bad", "good"), MISSPELT, ids=[f"{k}-{'.'.join(a) or 'top'}-{b}" for k, a, b, _ in MISSPELT])
def test_a_misspelt_key_names_the_dataset_and_the_key(tiny_raw, kind, at, bad, good):
    spec = copy.deepcopy(SPECS[kind])
    node = spec
    for part in at:
        node = node[part]
    node[bad] = node.pop(good)
    tiny_raw["datasets"]["src"] = spec
    lines = _error(tiny_raw).splitlines()[1:]
    where = ".".join(("datasets.src", *at))
    takes = f"kind {kind} takes" if not at else "keys here are"
    assert any(line.strip().startswith(f"{where}: unexpected key '{bad}' ({takes}: ") and good in line for line in lines), lines


def test_every_kind_has_its_branch_and_an_unknown_kind_lists_them(tiny_raw):
    dataset = _schema()["$defs"]["dataset"]
    kinds = dataset["properties"]["kind"]["enum"]
    branches = [b["if"]["properties"]["kind"]["const"] for b in dataset["allOf"]]
    assert sorted(branches) == sorted(kinds) == sorted(SPECS) and set(DOWNLOAD_KINDS) <= set(kinds)
    tiny_raw["datasets"]["src"] = {**SPECS["zenodo_file"], "kind": "zenodo"}
    msg = _error(tiny_raw)
    assert msg.count("\n") == 1 and f"datasets.src.kind: 'zenodo' is not one of {', '.join(kinds)}" in msg
    del tiny_raw["datasets"]["src"]["kind"]
    assert "datasets.src: 'kind' is a required property" in _error(tiny_raw)


def test_id_patterns_are_the_schemas_and_bad_ids_are_errors(tiny_raw, repo):
    defs = _schema()["$defs"]
    assert defs["task_id"]["pattern"] == f"^{TASK_ID_PATTERN}$" and defs["dataset_id"]["pattern"] == f"^{DATASET_ID_PATTERN}$"
    for path in sorted((repo / "config").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if "datasets" in raw:
            assert all(re.fullmatch(TASK_ID_PATTERN, t) for t in raw["tasks"]) and all(re.fullmatch(DATASET_ID_PATTERN, s) for s in raw["datasets"])
    tiny_raw["datasets"]["synthetic-kidney"] = tiny_raw["datasets"]["synthetic_kidney"]
    tiny_raw["tasks"]["Synth_Kidney"] = tiny_raw["tasks"]["SynthKidney-M"]
    tiny_raw["tasks"]["NoPretrain"] = tiny_raw["tasks"]["SynthKidney-M"]
    msg = _error(tiny_raw)
    assert f"datasets: 'synthetic-kidney' is not a valid dataset name: it must match {DATASET_ID_PATTERN}" in msg
    assert f"tasks: 'Synth_Kidney' is not a valid task id: it must match {TASK_ID_PATTERN} (e.g. SNEMI3D-N" in msg
    assert "tasks: 'NoPretrain' is not a valid task id" in msg


def test_the_old_source_keys_are_one_error_naming_the_rename(tiny_raw):
    """``sources``/``source`` meant raw data before they were renamed ``datasets``/``dataset``;
    an old config gets the rename, not a schema error per task. Pretraining sources keep their name."""
    old = copy.deepcopy(tiny_raw)
    old["sources"] = old.pop("datasets")
    for task in old["tasks"].values():
        task["source"] = task.pop("dataset")
    old["figures"]["fig5"]["source"] = old["figures"]["fig5"].pop("dataset")
    msg = _error(old)
    assert msg.splitlines() == [
        "config uses the old names: `sources` is now `datasets` (raw data); `source` means a pretraining task only",
        "  sources: rename to datasets",
        "  tasks.SynthKidney-M.source (and 1 more task): rename to dataset (the key of datasets the task is cut from)",
        "  figures.fig5.source: rename to dataset (the key of datasets whose volume is predicted)"]
    del old["figures"]
    old["datasets"] = old.pop("sources")
    assert _error(old).splitlines()[1:] == [
        "  tasks.SynthKidney-M.source (and 1 more task): rename to dataset (the key of datasets the task is cut from)"]
    assert validate_config(tiny_raw).experiment.sources == ("SynthKidney-M",)  # experiment.sources: pretraining tasks


def test_regions_outside_a_generated_volume_name_the_task_and_key(tiny_raw):
    kidney = tiny_raw["tasks"]["SynthKidney-M"]  # dataset: 12 sections of 64 x 64
    kidney["test"] = {"z": [8, 15], "y": [0, 100]}
    liver = tiny_raw["tasks"]["SynthLiver-M"]
    del liver["train"], liver["test"]
    liver["folds"] = [{"train": {"z": [0, 8]}, "test": {"z": [8, 8]}}, {"train": {"z": [4, 12], "x": [32, 65, 2]}, "test": {"z": [0, 4]}}]
    tiny_raw["figures"]["fig5"]["z"] = [0, 13]
    lines = [line.strip() for line in _error(tiny_raw).splitlines()[1:]]
    assert lines == [
        "tasks.SynthKidney-M.test.z: [8, 15] lies outside the 12 sections of dataset synthetic_kidney (z from 0 to 11)",
        "tasks.SynthKidney-M.test.y: [0, 100] reaches past the 64 rows of the task's prepared sections (64 x 64: sections of dataset synthetic_kidney)",
        "tasks.SynthLiver-M.folds[0].test.z: [8, 8] is empty (stop must exceed start)",
        "tasks.SynthLiver-M.folds[1].train.x: [32, 65, 2] reaches past the 64 columns of the task's prepared sections (64 x 64: sections of dataset synthetic_liver)",
        "figures.fig5.z: [0, 13] lies outside the 12 sections of dataset synthetic_liver (z from 0 to 11)",
    ]
    liver["folds"][1]["train"]["x"] = [32, 64, 2]  # the last column is 63: inside
    liver["folds"][0]["test"]["z"] = [8, 12]
    kidney["test"] = {"z": [8, 12], "y": [0, 64]}
    del tiny_raw["figures"]["fig5"]["z"]
    validate_config(tiny_raw)


def test_crop_and_resize_set_the_plane_that_y_and_x_index(tiny_raw, repo):
    kidney = tiny_raw["tasks"]["SynthKidney-M"]
    kidney["preprocess"] = {"crop_yx": [32, 100]}
    assert "tasks.SynthKidney-M.preprocess.crop_yx: [32, 100] is larger than the 64 x 64 sections of dataset synthetic_kidney" in _error(tiny_raw)
    kidney["preprocess"] = {"crop_yx": [32, 32], "resize_yx": [128, 128]}
    kidney["test"]["y"] = [64, 128]  # prepared pixels: inside the 128 x 128 resize
    validate_config(tiny_raw)
    kidney["preprocess"] = {"voxel_yx_nm": 16}
    assert "tasks.SynthKidney-M.preprocess.voxel_yx_nm: needs datasets.synthetic_kidney.voxel_nm" in _error(tiny_raw)
    paper = yaml.safe_load((repo / "config" / "config.yaml").read_text())  # remote datasets: y/x against resize_yx only
    paper["tasks"]["RatLiver-ER"]["test"]["x"] = [560, 1100]
    paper["tasks"]["Urocell-M"]["folds"][2]["test"]["volumes"] = ["fib1-9-9-9"]
    paper["tasks"]["MouseLiver-M"]["train"]["z"] = [1900, 1000, 5]
    msg = _error(paper)
    assert "tasks.RatLiver-ER.test.x: [560, 1100] reaches past the 1000 columns of the task's prepared sections (1000 x 1000: preprocess.resize_yx)" in msg
    assert "tasks.Urocell-M.folds[2].test.volumes[0]: 'fib1-9-9-9' is not a volume of dataset urocell (fib1-0-0-0," in msg
    assert "tasks.MouseLiver-M.train.z: [1900, 1000, 5] is empty" in msg


def test_section_files_sections_bound_the_regions(repo):
    mini = yaml.safe_load((repo / "config" / "mini.yaml").read_text())
    mini["tasks"]["FlyVNC-M"]["test"]["z"] = [15, 21]
    assert "tasks.FlyVNC-M.test.z: [15, 21] lies outside the 20 sections of dataset fly_vnc (z from 0 to 19)" in _error(mini)
    mini["tasks"]["FlyVNC-M"]["test"]["z"] = [15, 20]
    mini["datasets"]["fly_vnc"]["sections"] = [20, 20]
    msg = _error(mini)  # said once, not once more per region
    assert msg.count("\n") == 1 and "datasets.fly_vnc.sections: [20, 20] holds no section (stop must exceed start)" in msg


def _local_raw(tiny_raw, image, label, **task):
    tiny_raw["datasets"]["lab"] = {"kind": "local", "image": str(image), "labels": {"mito": str(label)}, "voxel_nm": [30, 4, 4]}
    tiny_raw["tasks"]["Lab-M"] = {"dataset": "lab", "label": "mito", **task}
    return tiny_raw


@pytest.mark.parametrize("fmt", ["tif", "npy", "zarr", "folder"])
def test_regions_outside_a_local_volume_are_found_in_its_header(tiny_raw, tmp_path, fmt):
    image = np.zeros((10, 32, 48), np.uint8)
    if fmt == "tif":  # compressed: open_volume would read it whole, the check reads page headers only
        path = tmp_path / "stack.tif"
        tifffile.imwrite(path, image, photometric="minisblack", compression="zlib")
    elif fmt == "npy":
        path = tmp_path / "stack.npy"
        np.save(path, image)
    elif fmt == "zarr":
        path = tmp_path / "stack.zarr"
        zarr.open_group(str(path), mode="w").create_array("image", data=image, chunks=(1, 32, 48))
    else:
        path = tmp_path / "sections"
        path.mkdir()
        for z, section in enumerate(image):
            tifffile.imwrite(path / f"{z:03d}.tif", section)
    label = tmp_path / "mito.npy"
    np.save(label, image)
    assert volume_header(path) == ((10, 32, 48), "uint8")
    raw = _local_raw(tiny_raw, path, label, train={"z": [0, 8]}, test={"z": [8, 12], "x": [0, 40]})
    cfg = validate_config(raw)  # nothing is read while validating
    assert region_errors(cfg) == ["tasks.Lab-M.test.z: [8, 12] lies outside the 10 sections of dataset lab (z from 0 to 9)"]
    raw["tasks"]["Lab-M"] |= {"test": {"z": [8, 10], "x": [0, 40]}, "preprocess": {"voxel_yx_nm": 8}}
    assert region_errors(validate_config(raw)) == [  # 4 nm pixels rescaled to 8 nm: 16 x 24
        "tasks.Lab-M.test.x: [0, 40] reaches past the 24 columns of the task's prepared sections "
        "(16 x 24: sections of dataset lab rescaled to 8 nm pixels)"]
    raw["tasks"]["Lab-M"]["test"]["x"] = [0, 24]
    assert region_errors(validate_config(raw)) == []


def test_bad_local_files_are_named_by_their_key(tiny_raw, tmp_path):
    image, short, floats = tmp_path / "stack.npy", tmp_path / "short.npy", tmp_path / "floats.npy"
    np.save(image, np.zeros((6, 16, 16), np.uint8))
    np.save(short, np.zeros((5, 16, 16), np.uint8))
    np.save(floats, np.zeros((6, 16, 16), np.float32))
    raw = _local_raw(tiny_raw, image, short, train={"z": [0, 4]}, test={"z": [4, 6]})
    assert region_errors(validate_config(raw)) == ["datasets.lab.labels.mito: shape (5, 16, 16) differs from the image's (6, 16, 16)"]
    raw["datasets"]["lab"] |= {"image": str(floats), "labels": {"mito": str(tmp_path / "missing.tif")}}
    missing = tmp_path / "missing.tif"
    assert region_errors(validate_config(raw)) == [
        f"datasets.lab.labels.mito: cannot read {missing}: {missing}: no such file or folder",
        "datasets.lab.image: expected a uint8 (z, y, x) volume, got float32 (6, 16, 16)"]


def test_shipped_configs_validate_and_their_regions_fit(repo):
    """Every shipped config but the own-volume template, whose local files are the user's
    (tests/test_own_volume_template.py checks it with files at its paths)."""
    configs = [p for p in sorted((repo / "config").glob("*.yaml")) if "datasets" in yaml.safe_load(p.read_text())]
    assert {p.name for p in configs} >= {"config.yaml", "demo.yaml", "mini.yaml", "own_volume.yaml"}
    for path in configs:
        if path.name != "own_volume.yaml":
            assert region_errors(load_config(path)) == [], path.name
