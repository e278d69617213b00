"""Volumes and labels as labs save them: PNG sections, single 2-D images, 0/255 labels with a
threshold or a value list, and `validate` finding unmapped label values before any job runs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from vemtransfer.config import validate_config
from vemtransfer.data import volume_io
from vemtransfer.data.datasets.local import local_files, open_local
from vemtransfer.data.file_checks import region_errors, volume_header
from vemtransfer.data.synthetic import generate_tissue
from vemtransfer.data.volume_io import open_volume

import job_helpers as jobs


def _stack(shape=(12, 16, 24), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _png_folder(folder: Path, stack: np.ndarray, name: str = "s{z}.png") -> Path:
    folder.mkdir()
    for z, section in enumerate(stack, 1):  # s1.png .. s12.png: unpadded numbers, as exporters write them
        assert cv2.imwrite(str(folder / name.format(z=z)), section)
    return folder


def test_a_png_folder_opens_lazily_in_natural_order(tmp_path, monkeypatch):
    stack = _stack()
    folder = _png_folder(tmp_path / "pngs", stack)
    (folder / "notes.txt").write_text("ignored")
    reads = []
    real = volume_io.read_section
    monkeypatch.setattr(volume_io, "read_section", lambda path: reads.append(path.name) or real(path))
    vol = open_volume(folder)
    assert vol.shape == stack.shape and vol.dtype == np.uint8 and reads == ["s1.png"]  # the first section only, for shape/dtype
    assert np.array_equal(vol[9], stack[9]) and reads[-1] == "s10.png"  # s10 is the 10th section, not the 2nd
    assert np.array_equal(vol[1:4, 2:9, ::3], stack[1:4, 2:9, ::3]) and reads[-3:] == ["s2.png", "s3.png", "s4.png"]
    assert volume_header(folder) == (stack.shape, "uint8")


def test_a_folder_of_tiffs_sorts_naturally_too(tmp_path):
    stack = _stack((11, 8, 8))
    folder = tmp_path / "tifs"
    folder.mkdir()
    for z, section in enumerate(stack):
        tifffile.imwrite(folder / f"slice_{z}.tif", section, photometric="minisblack")
    assert np.array_equal(open_volume(folder)[:], stack)


def test_a_folder_mixing_formats_is_an_error(tmp_path):
    folder = _png_folder(tmp_path / "mixed", _stack((3, 8, 8)))
    tifffile.imwrite(folder / "s4.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"mixed: mixes PNG and TIFF sections; keep one format per folder"):
        open_volume(folder)
    with pytest.raises(ValueError, match="no section files in this folder"):
        (tmp_path / "empty").mkdir()
        open_volume(tmp_path / "empty")


def test_colour_sections_with_equal_channels_read_as_grey(tmp_path):
    stack = _stack((3, 8, 8))
    folder = tmp_path / "rgb"
    folder.mkdir()
    for z, section in enumerate(stack):
        rgba = np.dstack([section, section, section, np.full_like(section, 255)]) if z == 2 else np.dstack([section] * 3)
        cv2.imwrite(str(folder / f"{z}.png"), rgba)
    vol = open_volume(folder)
    assert vol.shape == stack.shape and np.array_equal(vol[:], stack)
    coloured = np.dstack([stack[0], stack[0], 255 - stack[0]])
    cv2.imwrite(str(folder / "1.png"), coloured)
    with pytest.raises(ValueError, match=r"1\.png: colour image whose channels differ; save sections as grayscale"):
        vol[1]


@pytest.mark.parametrize("fmt", ["png", "tif", "npy"])
def test_a_single_2d_image_is_a_one_section_volume(tmp_path, fmt):
    section = _stack((1, 20, 30))[0]
    path = tmp_path / f"section.{fmt}"
    if fmt == "png":
        cv2.imwrite(str(path), section)
    elif fmt == "tif":
        tifffile.imwrite(path, section, photometric="minisblack")
    else:
        np.save(path, section)
    vol = open_volume(path)
    assert vol.shape == (1, 20, 30) and vol.dtype == np.uint8 and np.array_equal(vol[0], section)
    assert volume_header(path) == ((1, 20, 30), "uint8")


def _lab(tmp_path: Path, shape=(8, 64, 64)) -> tuple[Path, Path, np.ndarray]:
    """A synthetic liver volume as a TIFF stack and its mitochondria as 0/255 PNG sections."""
    image, labels = generate_tissue("liver", shape, 21)
    tifffile.imwrite(tmp_path / "stack.tif", image, photometric="minisblack")
    mito = labels["mito"].astype(np.uint8)
    assert mito[0].any() and mito[4:].any()
    return tmp_path / "stack.tif", _png_folder(tmp_path / "mito", mito * 255), mito


def _lab_raw(tiny_raw: dict, image: Path, label: str | dict) -> dict:
    tiny_raw["datasets"]["lab"] = {"kind": "local", "image": str(image), "labels": {"mito": label}, "voxel_nm": [30, 4, 4]}
    tiny_raw["tasks"]["Lab-M"] = {"dataset": "lab", "label": "mito", "train": {"z": [0, 4]}, "test": {"z": [4, 8]}}
    return tiny_raw


@pytest.mark.parametrize("mapping", [{"threshold": 127}, {"values": [255]}], ids=["threshold", "values"])
def test_0_255_labels_with_a_mapping_prepare_to_0_1(tmp_path, tiny_raw, mapping):
    image, folder, mito = _lab(tmp_path)
    raw = _lab_raw(tiny_raw, image, {"path": str(folder), **mapping})
    assert region_errors(validate_config(raw)) == []
    jobs.prepare(raw, "Lab-M")
    label = np.load(jobs.prepared_dir(raw, "Lab-M") / "test.label.npy")
    assert np.array_equal(label, mito[4:8])
    assert local_files(raw["datasets"]["lab"]) == [str(image), str(folder)]


def test_plain_label_paths_still_read_as_0_1(tmp_path, tiny_raw):
    image, _, mito = _lab(tmp_path)
    np.save(tmp_path / "mito.npy", mito)
    raw = _lab_raw(tiny_raw, image, str(tmp_path / "mito.npy"))
    assert region_errors(validate_config(raw)) == []
    jobs.prepare(raw, "Lab-M")
    assert np.array_equal(np.load(jobs.prepared_dir(raw, "Lab-M") / "test.label.npy"), mito[4:8])
    assert local_files(raw["datasets"]["lab"]) == [str(image), str(tmp_path / "mito.npy")]


def test_validate_reports_unmapped_label_values_from_the_first_section(tmp_path, tiny_raw):
    image, folder, mito = _lab(tmp_path)
    raw = _lab_raw(tiny_raw, image, str(folder))
    assert region_errors(validate_config(raw)) == [
        "datasets.lab.labels.mito: values {0, 255} in the first section: set threshold: 127 or values: [255]"]
    with pytest.raises(ValueError, match=r"outside \{0, 1\}; give labels.mito in the config as"):
        open_local(raw["datasets"]["lab"]).label("mito", "main", 0)
    ids = mito.astype(np.uint16) * np.arange(8, dtype=np.uint16)[:, None, None] * 100  # a compressed stack, first section empty
    tifffile.imwrite(tmp_path / "ids.tif", ids, photometric="minisblack", compression="zlib")
    assert region_errors(validate_config(_lab_raw(tiny_raw, image, str(tmp_path / "ids.tif")))) == []
    ids[0] = mito[0] * 7 + mito[0] * np.arange(64)[None, :] % 3
    tifffile.imwrite(tmp_path / "ids.tif", ids, photometric="minisblack", compression="zlib")
    assert region_errors(validate_config(_lab_raw(tiny_raw, image, str(tmp_path / "ids.tif")))) == [
        "datasets.lab.labels.mito: values {0, 7, 8, 9} in the first section: "
        "set threshold: (object = value >= threshold) or values: [the object's values]"]
    assert region_errors(validate_config(_lab_raw(tiny_raw, image, {"path": str(tmp_path / "ids.tif"), "threshold": 1}))) == []
