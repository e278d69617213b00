"""A lab's labels on separate blocks: a local dataset's ``volumes`` (z ranges of one stack, or
files of their own) are kept apart by patches, validation and test windows, and checked early."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch

from vemtransfer.config import ConfigError, EvalConfig, validate_config
from vemtransfer.data.datasets import open_whole_volume
from vemtransfer.data.datasets.local import local_files, open_local
from vemtransfer.data.file_checks import region_errors
from vemtransfer.data.splits import Volume, load_split
from vemtransfer.data.synthetic import generate_tissue
from vemtransfer.inference.predict import predict_volume
from vemtransfer.training import evaluate
from vemtransfer.training.evaluate import evaluate_model

import job_helpers as jobs


class WindowContext(torch.nn.Module):
    """Logits that depend on the whole window (its mean): a window straddling two different
    blocks predicts differently from windows inside each, so a crossing changes the result."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 4 * x.mean(dim=(2, 3, 4), keepdim=True) + x


def _blocks(tmp_path: Path) -> dict:
    """A 20-section stack whose labelled blocks are z 2-8 and 12-18 (mito 0/255, a TIFF stack),
    and a third block in files of its own (a PNG folder of another tissue, inverted contrast)."""
    image, labels = generate_tissue("liver", (20, 64, 64), 3)
    tifffile.imwrite(tmp_path / "stack.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "mito.tif", labels["mito"].astype(np.uint8) * 255, photometric="minisblack")
    other, other_labels = generate_tissue("kidney", (6, 64, 64), 4)
    for name, stack in (("other", 255 - other), ("other_mito", other_labels["mito"].astype(np.uint8))):
        (tmp_path / name).mkdir()
        for z, section in enumerate(stack):
            assert cv2.imwrite(str(tmp_path / name / f"{z}.png"), section)
    return {"kind": "local", "image": str(tmp_path / "stack.tif"), "labels": {"mito": {"path": str(tmp_path / "mito.tif"), "threshold": 128}},
            "volumes": {"early": {"z": [2, 8]}, "late": {"z": [12, 18]},
                        "other": {"image": str(tmp_path / "other"), "labels": {"mito": str(tmp_path / "other_mito")}}},
            "voxel_nm": [30, 4, 4]}


def _raw(tiny_raw: dict, spec: dict, **task) -> dict:
    tiny_raw["datasets"]["lab"] = spec
    tiny_raw["tasks"]["Lab-M"] = {"dataset": "lab", "label": "mito", "train": {"volumes": ["early", "other"]},
                                  "test": {"volumes": ["late"]}, **task}
    return tiny_raw


def test_blocks_read_their_own_sections_of_the_stack_or_their_files(tmp_path):
    spec = _blocks(tmp_path)
    sections = open_local(spec)
    stack, mito = tifffile.imread(tmp_path / "stack.tif"), tifffile.imread(tmp_path / "mito.tif")
    assert sections.volumes() == ("early", "late", "other") and sections.labels() == ("mito",)
    assert sections.indices("early") == [2, 3, 4, 5, 6, 7] and sections.indices("other") == list(range(6))
    assert np.array_equal(sections.image("late", 12), stack[12])
    assert np.array_equal(sections.label("mito", "early", 5), (mito[5] >= 128).astype(np.uint8))
    assert np.array_equal(sections.image("other", 0), cv2.imread(str(tmp_path / "other" / "0.png"), cv2.IMREAD_UNCHANGED))
    with pytest.raises(IndexError, match="section 9 is outside volume 'early' \\(sections 2 to 7\\)"):
        sections.image("early", 9)
    assert local_files(spec) == [str(tmp_path / p) for p in ("stack.tif", "mito.tif", "other", "other_mito")]
    whole = open_whole_volume("lab", spec, ".")  # what is predicted: the whole stack
    assert whole.volumes() == ("main",) and whole.indices("main") == list(range(20))


def test_prepared_splits_record_the_blocks_and_no_patch_straddles_two(tmp_path, tiny_raw):
    raw = _raw(tiny_raw, _blocks(tmp_path), validation={"axis": "y", "fraction": 0.5})
    assert region_errors(validate_config(raw)) == []
    index = jobs.prepare(raw, "Lab-M")
    assert index["splits"]["train"]["blocks"] == [6, 6] and index["splits"]["test"]["blocks"] == [6]
    depth, edges = index["patch_size"][0], np.cumsum([0, 6, 6])
    assert {z for z, _, _ in index["origins"]} == {0, 2, 6, 8}  # 6-section blocks, patches 4 deep at stride 2: none at 4
    for z, _, _ in index["origins"]:
        block = np.searchsorted(edges, z, side="right") - 1
        assert z + depth <= edges[block + 1], f"patch at z {z} crosses the seam at {edges[block + 1]}"
    folder = jobs.prepared_dir(raw, "Lab-M")
    train, test = load_split(folder, "train"), load_split(folder, "test")
    assert train.blocks == (6, 6) and test.blocks == (6,)
    mito = tifffile.imread(tmp_path / "mito.tif")
    assert np.array_equal(test.label, (mito[12:18] >= 128).astype(np.uint8))  # the late block, thresholded


def test_evaluation_predicts_each_block_alone(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    image = np.concatenate([rng.integers(0, 256, (5, 32, 32)), rng.integers(200, 256, (3, 32, 32))]).astype(np.uint8)
    label = (rng.random(image.shape) > 0.5).astype(np.uint8)
    model, patch = WindowContext(), (4, 32, 32)
    alone = np.concatenate([predict_volume(model, image[:5], patch, amp=False), predict_volume(model, image[5:], patch, amp=False)])
    stacked = predict_volume(model, image, patch, amp=False)
    assert np.abs(stacked - alone).max() > 0.05  # the blocks differ, so a window across the seam would show
    assert np.array_equal(predict_volume(model, image, patch, amp=False, blocks=[5, 3]), alone)
    with pytest.raises(ValueError, match=r"blocks \[5, 4\] do not split the 8 sections"):
        predict_volume(model, image, patch, blocks=[5, 4])
    monkeypatch.setattr(evaluate, "load_model", lambda path: model)
    result = evaluate_model(tmp_path / "model.pt", Volume(image, label, (5, 3)), patch, EvalConfig(0.5, 0.5, 2), torch.device("cpu"), False)
    assert result["counts"]["tp"] == int(np.count_nonzero((alone > 0.5) & (label == 1)))
    assert result["counts"]["tp"] != int(np.count_nonzero((stacked > 0.5) & (label == 1)))


@pytest.mark.parametrize("change, message", [
    (lambda spec, raw: spec.pop("image"), "datasets.lab.volumes.early.z: a z range of the dataset's image, which datasets.lab does not give"),
    (lambda spec, raw: spec["volumes"]["other"]["labels"].update({"er": spec["volumes"]["other"]["labels"].pop("mito")}),
     "tasks.Lab-M.label: 'mito' is not among the labels of datasets.lab.volumes.other (er)"),
    (lambda spec, raw: (spec.pop("image"), spec["volumes"].pop("early"), spec["volumes"].pop("late"),
                        raw["tasks"]["Lab-M"].update({"train": {"volumes": ["other"]}, "test": {"volumes": ["other"]}}),
                        raw.update({"recommend": {"tasks": ["Lab-M"], "predict": True}})),
     "recommend.tasks[0]: predicting dataset lab needs its whole stack as datasets.lab.image"),
])
def test_config_errors_of_blocks_are_named_before_any_file_is_read(tmp_path, tiny_raw, change, message):
    raw = _raw(tiny_raw, _blocks(tmp_path))
    change(raw["datasets"]["lab"], raw)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        validate_config(raw)


def test_validate_reads_each_block_and_its_bounds(tmp_path, tiny_raw):
    spec = _blocks(tmp_path)
    spec["volumes"]["late"]["z"] = [12, 24]  # past the 20 sections
    raw = _raw(tiny_raw, spec, test={"volumes": ["other"], "z": [0, 9]})  # past the other block's 6 sections
    cv2.imwrite(str(tmp_path / "other_mito" / "0.png"), np.full((64, 64), 255, np.uint8))  # 0/255, no threshold
    errors = region_errors(validate_config(raw))
    assert "datasets.lab.volumes.late.z: [12, 24] is not a range inside the 20 sections of " + str(tmp_path / "stack.tif") in errors
    assert "datasets.lab.volumes.other.labels.mito: values {255} in the first section: set threshold: (object = value >= threshold) or values: [the object's values]" in errors
    assert any(e.startswith("tasks.Lab-M.test.z: [0, 9] lies outside the 6 sections of dataset lab, volume other") for e in errors)
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.zeros((4, 32, 32), np.uint8), photometric="minisblack")
    spec["volumes"]["late"] = {"image": str(small), "labels": {"mito": str(small)}}
    assert any("the images' sections differ in size" in e for e in region_errors(validate_config(raw)))


@pytest.mark.parametrize("spec, message", [
    ({"labels": {"mito": "a.tif"}}, "datasets.lab: give image and labels (or volumes: labelled blocks"),
    ({"image": "a.tif", "labels": {"mito": "a.tif"}, "volumes": {"a": {"z": [0, 3], "image": "b.tif"}}},
     "datasets.lab.volumes.a: either z (sections of the dataset's image) or image and labels of its own, not both"),
    ({"image": "a.tif", "labels": {"mito": "a.tif"}, "volumes": {"a": {"image": "b.tif"}}},
     "datasets.lab.volumes.a: give z: [start, stop] (sections of the dataset's image) or image and labels of its own"),
])
def test_an_incomplete_local_spec_is_one_clear_line(tiny_raw, spec, message):
    raw = _raw(tiny_raw, {"kind": "local", "voxel_nm": [30, 4, 4], **spec})
    raw["tasks"]["Lab-M"] = {"dataset": "lab", "label": "mito", "train": {"z": [0, 2]}}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert message in str(err.value)
