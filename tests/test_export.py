"""Export -> `vemtransfer predict` reproduces in-workflow prediction; bad inputs fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from vemtransfer.cli import main
from vemtransfer.config import validate_config
from vemtransfer.data.prepare import preprocess_image
from vemtransfer.data.synthetic import generate_tissue
from vemtransfer.data.volume_io import open_volume
from vemtransfer.export.torchscript import PreprocessedVolume
from vemtransfer.inference.ome import open_prediction
from vemtransfer.jobs.prediction import predict_test_job

import job_helpers as jobs


@pytest.fixture
def trained(tiny_raw, tmp_path):
    jobs.prepare(tiny_raw, "SynthLiver-M")
    model = jobs.model_path(tiny_raw, "finetune/NoPretrain__SynthLiver-M/p3/rep1")
    jobs.train(tiny_raw, "NoPretrain", "SynthLiver-M", "p3", 1, model, init=None)
    return model


def test_export_then_cli_predict_equals_workflow_prediction(tiny_raw, tiny_config_file, trained, tmp_path):
    in_workflow = tmp_path / "workflow.zarr"
    prepared = jobs.prepared_dir(tiny_raw, "SynthLiver-M")
    predict_test_job(validate_config(tiny_raw), trained, prepared / "test.image.npy", prepared / "patches.json", in_workflow)
    out = tmp_path / "export"
    assert main(["export", str(tiny_config_file), "--source", "NoPretrain", "--target", "SynthLiver-M", "--budget", "p3", "--out", str(out)]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["patch_size"] == [4, 32, 32] and meta["target"] == "SynthLiver-M" and meta["voxel_nm"] is None
    src = tiny_raw["datasets"]["synthetic_liver"]
    raw = generate_tissue("liver", tuple(src["shape"]), src["seed"])[0][8:12]  # the task's test sections, raw
    tifffile.imwrite(tmp_path / "user.tif", raw, photometric="minisblack")
    cli_out = tmp_path / "cli.zarr"
    assert main(["predict", "--model", str(out), "--input", str(tmp_path / "user.tif"), "--output", str(cli_out), "--chunk", "4", "32", "32"]) == 0
    (a_prob, a_mask), (b_prob, b_mask) = open_prediction(in_workflow), open_prediction(cli_out)
    np.testing.assert_allclose(a_prob[...], b_prob[...], atol=1e-3)  # the CLI re-preprocesses the raw sections
    assert (a_mask[...] != b_mask[...]).mean() < 1e-3


def test_preprocessed_volume_reads_sections_lazily(tmp_path):
    raw = np.random.default_rng(0).integers(0, 256, (5, 40, 30), dtype=np.uint8)
    np.save(tmp_path / "v.npy", raw)
    vol = PreprocessedVolume(open_volume(tmp_path / "v.npy"), {"resize_yx": [20, 15]})
    assert vol.shape == (5, 20, 15) and vol.dtype == np.uint8
    got = vol[1:3, 2:10, :]
    assert np.array_equal(got[1], preprocess_image(raw[2], {"resize_yx": [20, 15]})[2:10])


def test_predict_rejects_a_non_uint8_volume(tmp_path, trained):
    np.save(tmp_path / "f.npy", np.zeros((4, 32, 32), np.float32))
    with pytest.raises(SystemExit, match="expected a uint8"):
        main(["predict", "--model", str(trained), "--input", str(tmp_path / "f.npy"), "--output", str(tmp_path / "o.zarr")])
    with pytest.raises(ValueError, match="unsupported volume format"):
        open_volume(tmp_path / "x.jpg")


def test_cli_errors_are_one_line_and_debug_shows_the_traceback(tiny_config_file, capsys):
    args = ["train", str(tiny_config_file), "--target", "SynthLiver-M", "--budget", "f1"]  # nothing prepared yet
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vemtransfer train: error: ") and "patches.json" in err and "\n" not in err
    with pytest.raises(FileNotFoundError):
        main(["--debug", *args])
    assert main(["export", str(tiny_config_file), "--target", "Nope-M", "--out", "x"]) == 2
    assert "unknown task 'Nope-M'" in capsys.readouterr().err
