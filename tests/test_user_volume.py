"""A lab's own volume: local TIFF/Zarr dataset, clear errors on bad input, ranked recommendation end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
import zarr

from vemtransfer.cli import main
from vemtransfer.config import ConfigError, validate_config
from vemtransfer.data.datasets.local import open_local
from vemtransfer.data.synthetic import generate_tissue
from vemtransfer.data.volume_io import open_volume
from vemtransfer.inference.ome import open_prediction, prediction_info

import job_helpers as jobs
from workflow_helpers import job_outputs, snakemake


def _user_volume(tmp_path: Path, shape=(16, 128, 128)) -> tuple[Path, Path]:
    image, labels = generate_tissue("liver", shape, 21)
    tifffile.imwrite(tmp_path / "stack.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "mito.tif", labels["mito"].astype(np.uint8), photometric="minisblack")
    return tmp_path / "stack.tif", tmp_path / "mito.tif"


def _config(tmp_path: Path, image: Path, label: Path) -> dict:
    gen = {"kind": "generated", "shape": [16, 128, 128], "voxel_nm": [32, 8, 8]}
    region = {"train": {"z": [0, 12]}, "test": {"z": [12, 16]}}
    return {
        "demo": True, "results_dir": str(tmp_path / "results"), "resources_dir": str(tmp_path / "resources"),
        "logs_dir": str(tmp_path / "logs"),
        "datasets": {"kidney": {**gen, "tissue": "kidney", "seed": 1}, "brain": {**gen, "tissue": "brain", "seed": 2},
                    "my_lab": {"kind": "local", "image": str(image), "labels": {"mito": str(label)}, "voxel_nm": [32, 4, 4]}},
        "tasks": {"SynthKidney-M": {"dataset": "kidney", "label": "mito", **region},
                  "SynthBrain-N": {"dataset": "brain", "label": "neurite", **region},
                  "MyLab-M": {"dataset": "my_lab", "label": "mito", "preprocess": {"voxel_yx_nm": 8}, **region}},
        "patches": {"size": [4, 48, 48], "stride": [2, 24, 24]},
        "model": {"widths": [4, 8, 8, 16, 16], "bn_momentum": 0.1},
        "train": {"batch_size": 4, "pretrain": {"epochs": 100, "max_steps": 100}, "finetune": {"epochs": 100, "max_steps": 20},
                  "val_every": 10, "checkpoint_every": 50, "log_every": 10, "num_workers": 0},
        "experiment": {"repeats": 1, "sources": ["SynthKidney-M", "SynthBrain-N"], "targets": ["MyLab-M"], "fractions": [1.0, 0.5]},
        "recommend": {"tasks": ["MyLab-M"], "repeats": 1},
        "resources": {k: {"threads": 1, "mem_mb": 1000, "runtime": 5} for k in ("train", "evaluate", "prepare")},
    }


@pytest.mark.workflow
def test_recommendation_ranks_the_same_object_above_an_unrelated_source_then_predicts_the_volume(tmp_path, repo):
    image, label = _user_volume(tmp_path, (16, 256, 256))  # 4 nm pixels, rescaled to 8 nm -> 128 x 128
    zarr.open_group(str(tmp_path / "stack.zarr"), mode="w").create_array("image", data=tifffile.imread(image), chunks=(1, 256, 256))
    config = tmp_path / "lab.yaml"
    raw = _config(tmp_path, tmp_path / "stack.zarr", label)  # the image as Zarr, the labels as a TIFF stack
    config.write_text(yaml.safe_dump(raw))
    target = tmp_path / "results" / "recommend" / "MyLab-M" / "recommendation.md"
    res = snakemake(tmp_path, str(target), str(target.parent / "prediction.zarr" / "zarr.json"), str(target.parent / "prediction.ply"),
                    str(target.parent / "morphometrics.csv"), "--cores", "2", "--configfile", str(config))
    assert res.returncode == 0, res.stderr[-4000:]
    ranking = pd.read_csv(target.with_suffix(".csv")).set_index("source")
    assert ranking.loc["SynthKidney-M", "rank"] < ranking.loc["SynthBrain-N", "rank"]
    assert set(ranking.index) == {"NoPretrain", "SynthKidney-M", "SynthBrain-N"}
    text = target.read_text()
    assert "Pretrain on" in text and "**Labels" in text and "Learning curves (inverse power law" in text
    assert (target.parent / "learning_curve.png").stat().st_size > 10_000
    prepared = np.load(tmp_path / "resources" / "prepared" / "MyLab-M" / "test.image.npy", mmap_mode="r")
    assert prepared.shape == (4, 128, 128)  # y/x rescaled from 4 nm to 8 nm pixels
    # prediction.zarr: the whole 16-section volume, by the top source's best repeat at 100 % of the labels
    choice = json.loads((target.parent / "chosen_model.json").read_text())
    assert choice["source"] == ranking.index[ranking["rank"] == 1][0] and choice["budget"] == "f1"
    assert choice["model_id"] in text
    prob, mask = open_prediction(target.parent / "prediction.zarr")
    assert mask.shape == prob.shape == (16, 128, 128)
    assert 0 < np.asarray(mask).mean() < 1
    assert prediction_info(target.parent / "prediction.zarr")["voxel_nm"] == [32, 8, 8]
    assert not list((target.parent / "prediction.zarr").glob(".snakemake*"))
    info = json.loads((tmp_path / "resources" / "prepared" / "volumes" / "MyLab-M.json").read_text())
    assert info["voxel_nm"] == [32, 8, 8] and info["sections"] == 16
    assert (target.parent / "prediction.ply").read_bytes().startswith(b"ply")
    # numbers per organelle: one row per 3-D object of the mask, in the prediction's voxel size
    objects = pd.read_csv(target.parent / "morphometrics.csv")
    summary = json.loads((target.parent / "morphometrics.json").read_text())
    assert summary["count"] == len(objects) > 0 and summary["voxel_size_nm_zyx"] == [32, 8, 8]
    assert objects["voxels"].sum() == int(np.asarray(mask).sum())
    assert np.allclose(objects["volume_um3"], objects["voxels"] * 32 * 8 * 8 * 1e-9)
    assert (target.parent / "size_distribution.png").stat().st_size > 5_000
    assert main(["measure", str(target.parent / "prediction.zarr"), "--out", str(tmp_path / "m")]) == 0
    assert pd.read_csv(tmp_path / "m" / "morphometrics.csv").equals(objects)
    # the exported model rescales a raw volume from its voxel size to the task's 8 nm pixels, as the workflow did
    assert main(["export", str(config), "--target", "MyLab-M", "--out", str(tmp_path / "export")]) == 0
    meta = json.loads((tmp_path / "export" / "model.json").read_text())
    assert meta["preprocess"]["voxel_yx_nm"] == 8 and meta["input_voxel_nm"] == [32, 4, 4] and meta["voxel_nm"] == [32, 8, 8]
    for extra in ([], ["--input-voxel-nm", "32", "4", "4"]):
        out = tmp_path / f"cli{len(extra)}.zarr"
        assert main(["predict", "--model", str(tmp_path / "export"), "--input", str(tmp_path / "stack.zarr"), "--output", str(out), *extra]) == 0
        assert prediction_info(out)["voxel_nm"] == [32, 8, 8]
        cli_mask = open_prediction(out)[1]
        assert cli_mask.shape == (16, 128, 128) and (np.asarray(cli_mask) != np.asarray(mask)).mean() < 1e-3
    half = tmp_path / "half.zarr"  # a volume at 8 nm already: no rescaling, same 8 nm prediction
    zarr.open_group(str(tmp_path / "coarse.zarr"), mode="w").create_array("image", data=np.asarray(open_volume(tmp_path / "stack.zarr")[:, ::2, ::2]))
    assert main(["predict", "--model", str(tmp_path / "export"), "--input", str(tmp_path / "coarse.zarr"), "--output", str(half),
                 "--input-voxel-nm", "32", "8", "8"]) == 0
    assert open_prediction(half)[1].shape == (16, 128, 128) and prediction_info(half)["voxel_nm"] == [32, 8, 8]


@pytest.mark.workflow
def test_a_sparsely_labelled_volume_without_test_region_is_ranked_predicted_and_exported(tmp_path, repo):
    image, label = _user_volume(tmp_path, (16, 256, 256))
    raw = _config(tmp_path, image, label)
    labelled = [0, 3, 6, 9, 12, 15]  # a lab that annotated every third section, and kept none back for testing
    raw["tasks"]["MyLab-M"] = {"dataset": "my_lab", "label": "mito", "train": {"z": [0, 16]}, "labelled_sections": labelled,
                               "validation": {"axis": "y", "fraction": 0.3}, "preprocess": {"voxel_yx_nm": 8}}
    raw["experiment"]["targets"] = []  # no test region: recommend only (no Table 2)
    raw["recommend"]["predict"] = True
    config = tmp_path / "lab.yaml"
    config.write_text(yaml.safe_dump(raw))
    res = snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    assert res.returncode == 0, res.stderr[-4000:]
    results = tmp_path / "results"
    assert (results / "recommend" / "MyLab-M" / "recommendation.md").exists() and not (results / "tables" / "table2.csv").exists()
    assert not (results / "metrics").exists()  # nothing was scored on a test split
    ranking = pd.read_csv(results / "recommend" / "MyLab-M" / "recommendation.csv")
    assert ranking["mean_over_fractions"].between(0, 100).all()
    index = json.loads((tmp_path / "resources" / "prepared" / "MyLab-M" / "patches.json").read_text())
    assert index["splits"]["train"]["labelled_sections"] == len(labelled) and index["splits"]["test"]["shape"] == [0, 128, 128]
    choice = json.loads((results / "recommend" / "MyLab-M" / "chosen_model.json").read_text())
    assert open_prediction(results / "recommend" / "MyLab-M" / "prediction.zarr")[1].shape == (16, 128, 128)
    # export without naming a run exports what the recommendation chose (and prediction.zarr used)
    assert main(["export", str(config), "--target", "MyLab-M", "--out", str(tmp_path / "export")]) == 0
    meta = json.loads((tmp_path / "export" / "model.json").read_text())
    assert [meta[k] for k in ("source", "budget", "rep")] == [choice[k] for k in ("source", "budget", "rep")]
    assert meta["metrics"] == {} and 0 <= meta["val_iou_fg"] <= 1


def test_every_volume_format_reads_like_the_multipage_tiff(tmp_path):
    image, label = _user_volume(tmp_path, (4, 32, 32))
    stack = tifffile.imread(image)
    group = zarr.open_group(str(tmp_path / "v.zarr"), mode="w")
    group.create_array("image", data=stack)
    ome = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w")  # OME-Zarr: level "0" is full resolution
    ome.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a} for a in "zyx"], "datasets": [{"path": "0"}, {"path": "1"}]}]
    ome.create_array("0", data=stack)
    ome.create_array("1", data=stack[:, ::2, ::2])
    folder = tmp_path / "sections"
    folder.mkdir()
    for z in range(len(stack)):
        tifffile.imwrite(folder / f"slice_{z:03d}.tif", stack[z], photometric="minisblack")
    np.save(tmp_path / "v.npy", stack)
    for path in ("v.zarr", "ome.zarr", "sections", "v.npy"):
        sections = open_local({"image": str(tmp_path / path), "labels": {"mito": str(label)}})
        assert np.array_equal(sections.image("main", 2), stack[2]), path
        assert sections.labels() == ("mito",)
    vol = open_volume(folder)
    assert vol.shape == stack.shape and np.array_equal(vol[1:3, 4:9, ::3], stack[1:3, 4:9, ::3])
    tifffile.imwrite(folder / "slice_999.tif", np.zeros((8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(ValueError, match="slice_999.tif.*differs from the first section"):
        open_volume(folder)[3:5]
    with pytest.raises(ValueError, match="without an 'image' array or OME-Zarr"):
        zarr.open_group(str(tmp_path / "empty.zarr"), mode="w").create_array("other", data=stack)
        open_volume(tmp_path / "empty.zarr")


def test_bad_user_volumes_fail_clearly(tmp_path, tiny_raw):
    image, label = _user_volume(tmp_path, (4, 64, 64))
    tifffile.imwrite(tmp_path / "short.tif", np.zeros((3, 64, 64), np.uint8), photometric="minisblack")
    with pytest.raises(ValueError, match="labels have shape"):
        open_local({"image": str(image), "labels": {"mito": str(tmp_path / "short.tif")}})
    tifffile.imwrite(tmp_path / "255.tif", (tifffile.imread(label) * 255).astype(np.uint8), photometric="minisblack")
    with pytest.raises(ValueError, match=r"outside \{0, 1\}"):
        open_local({"image": str(image), "labels": {"mito": str(tmp_path / "255.tif")}}).label("mito", "main", 0)
    tiny_raw["datasets"]["lab"] = {"kind": "local", "image": str(image), "labels": {"mito": str(label)}, "voxel_nm": [30, 0, 4]}
    with pytest.raises(ConfigError, match=r"datasets.lab.voxel_nm\[1\]"):
        validate_config(tiny_raw)
    tifffile.imwrite(tmp_path / "empty.tif", np.zeros((4, 64, 64), np.uint8), photometric="minisblack")
    tiny_raw["datasets"]["lab"] = {"kind": "local", "image": str(image), "labels": {"mito": str(tmp_path / "empty.tif")}, "voxel_nm": [30, 4, 4]}
    tiny_raw["tasks"]["Lab-M"] = {"dataset": "lab", "label": "mito", "train": {"z": [0, 4]}, "test": {"z": [0, 4]}}
    with pytest.raises(ValueError, match="labels are empty"):
        jobs.prepare(tiny_raw, "Lab-M")
    assert not (Path(tiny_raw["resources_dir"]) / "prepared" / "Lab-M" / "patches.json").exists()


@pytest.mark.workflow
def test_recommend_predict_puts_the_prediction_and_mesh_into_all(tmp_path, repo):
    image, label = _user_volume(tmp_path, (16, 64, 64))
    raw = _config(tmp_path, image, label)
    raw["experiment"]["finetune_patches"] = 2
    raw["recommend"] |= {"predict": True, "meshes": True}
    config = tmp_path / "lab.yaml"
    config.write_text(yaml.safe_dump(raw))
    res = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(config), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    for rule in ("recommend_source", "prepare_volume", "predict_blocks", "assemble_prediction", "mesh_task"):
        assert f"rule {rule}:" in out, rule
    # every model the recommendation may choose is scored on the test region, for its model card
    candidates = {f"finetune/{s}__MyLab-M/f1/rep{r}" for s in ("NoPretrain", *raw["experiment"]["sources"])
                  for r in range(1, raw["experiment"]["repeats"] + 1)}
    assert candidates <= {p.split("/metrics/", 1)[1].removesuffix(".json") for p in job_outputs(out).get("evaluate_model", ())}


@pytest.mark.workflow
def test_two_labelled_blocks_of_a_stack_are_never_crossed_by_patches_or_test_windows(tmp_path, repo):
    # A 30-section stack labelled on two blocks of different tissue (liver, then inverted-contrast
    # kidney) with unlabelled sections between them; each block is cut into a train and a test part.
    liver, liver_labels = generate_tissue("liver", (12, 128, 128), 21)
    kidney, kidney_labels = generate_tissue("kidney", (12, 128, 128), 22)
    gap = np.random.default_rng(0).integers(0, 256, (6, 128, 128), dtype=np.uint8)
    stack = np.concatenate([liver, gap, 255 - kidney])
    mito = np.concatenate([liver_labels["mito"], np.zeros(gap.shape), kidney_labels["mito"]]).astype(np.uint8) * 255
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    (tmp_path / "mito").mkdir()  # labels as an annotation tool exports them: PNG sections, 0/255
    for z, section in enumerate(mito):
        assert cv2.imwrite(str(tmp_path / "mito" / f"s{z}.png"), section)
    raw = _config(tmp_path, tmp_path / "stack.tif", tmp_path / "mito.tif")
    raw["datasets"]["my_lab"] = {"kind": "local", "image": str(tmp_path / "stack.tif"), "voxel_nm": [32, 8, 8],
                                 "labels": {"mito": {"path": str(tmp_path / "mito"), "threshold": 128}},
                                 "volumes": {"liver_train": {"z": [0, 8]}, "liver_test": {"z": [8, 12]},
                                             "kidney_train": {"z": [18, 26]}, "kidney_test": {"z": [26, 30]}}}
    raw["tasks"]["MyLab-M"] = {"dataset": "my_lab", "label": "mito", "train": {"volumes": ["liver_train", "kidney_train"]},
                               "test": {"volumes": ["liver_test", "kidney_test"]}}
    raw["experiment"].update({"sources": ["SynthKidney-M"], "fractions": [1.0]})
    config = tmp_path / "lab.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(config)]) == 0
    metrics = tmp_path / "results" / "metrics" / "finetune" / "NoPretrain__MyLab-M" / "f1" / "rep1.json"
    res = snakemake(tmp_path, str(metrics), "--cores", "2", "--configfile", str(config))
    assert res.returncode == 0, res.stderr[-4000:]
    index = json.loads((tmp_path / "resources" / "prepared" / "MyLab-M" / "patches.json").read_text())
    assert index["splits"]["train"]["blocks"] == [8, 8] and index["splits"]["test"]["blocks"] == [4, 4]
    assert all(z + 4 <= 8 or 8 <= z <= 12 for z, _, _ in index["origins"])  # 4-deep patches inside one 8-section block
    # the score is that of each test block predicted alone; the two stacked would let a window straddle them
    from vemtransfer.inference.predict import predict_volume
    from vemtransfer.model.checkpoint import load_model
    from vemtransfer.model.metrics import confusion

    record = json.loads(metrics.read_text())
    model = load_model(tmp_path / record["checkpoint"])
    test = np.load(tmp_path / "resources" / "prepared" / "MyLab-M" / "test.image.npy")
    label = np.load(tmp_path / "resources" / "prepared" / "MyLab-M" / "test.label.npy")
    alone = np.concatenate([predict_volume(model, test[:4], (4, 48, 48), amp=False), predict_volume(model, test[4:], (4, 48, 48), amp=False)])
    stacked = predict_volume(model, test, (4, 48, 48), amp=False)
    assert np.abs(alone - stacked).max() > 1e-3  # the blocks differ: a crossing would show
    counts = confusion(alone > record["threshold"], label)
    assert [record["counts"][k] for k in ("tp", "fp", "fn")] == [counts.tp, counts.fp, counts.fn]
