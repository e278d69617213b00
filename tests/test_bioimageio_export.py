"""bioimage.io export: the package passes bioimageio.core's own model tests offline, predicts
what our model predicts, and documents voxel size, threshold, preprocessing and citations;
`vemtransfer export --format bioimageio` writes it with the TorchScript export's metadata."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bioimageio.core as bioimageio_core
import httpx
import numpy as np
import pytest
import tifffile
import torch
import yaml
from bioimageio.core import create_prediction_pipeline, load_description, predict
from bioimageio.core.common import MemberId
from test_export import trained  # noqa: F401 (the fixture: a tiny model trained through the workflow's jobs)

from vemtransfer.cli import main
from vemtransfer.data.prepare import enhance, preprocess_image
from vemtransfer.data.splits import normalise
from vemtransfer.data.synthetic import generate_tissue
from vemtransfer.export.bioimageio import GAIN, OFFSET, PACKAGE_DIR, PACKAGE_ZIP, PAPER_CITATION, export_bioimageio
from vemtransfer.export.torchscript import model_metadata
from vemtransfer.inference.ome import open_prediction
from vemtransfer.inference.runners import TorchRunner
from vemtransfer.model.checkpoint import load_model, save_model
from vemtransfer.model.network import RSUNet

import job_helpers as jobs

PATCH = (3, 32, 32)
VOXEL_NM = [40.0, 10.0, 10.0]
PREPROCESS = {"resize_yx": [400, 400], "resize": "after_clahe"}
TRAINING_DATA = [{"name": "SNEMI3D", "doi": "10.5281/zenodo.7142003", "licence": "see the challenge"},
                 {"name": "UroCell", "licence": "CC BY-NC-SA 4.0"}]


@dataclass
class Exported:
    model_pt: Path
    package: Path
    threshold: float
    meta: dict[str, Any]


def _volume(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """A VEM-like uint8 volume through the training preprocessing (CLAHE + blur)."""
    return np.stack([enhance(s) for s in generate_tissue("liver", shape, seed)[0]])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A tiny random network (with non-trivial BatchNorm statistics) exported as a zip; the
    threshold is the median test probability, so the thresholded mask is far from constant."""
    root = tmp_path_factory.mktemp("bioimageio")
    torch.manual_seed(0)
    net = RSUNet((2, 4, 4), bn_momentum=0.1, planar_levels=1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    save_model(root / "model.pt", net, {"patch_size": list(PATCH), "target": "SynthLiver-M"})
    with torch.no_grad():
        prob = torch.sigmoid(net.eval()(torch.from_numpy(normalise(_volume(PATCH, 0)))[None, None]))
    threshold = float(prob.median())
    meta = model_metadata(root / "model.pt", preprocess=PREPROCESS, voxel_nm=VOXEL_NM, threshold=threshold,
                          metrics={"iou_fg": 0.5}, val_iou_fg=0.25, training_data=TRAINING_DATA)
    package = export_bioimageio(
        root / "model.pt", root / "out", meta, name="vemtransfer SynthLiver-M/p3", description="Tiny test model.",
        authors=["Test Author", {"name": "Second Author", "affiliation": "Somewhere"}])
    assert package.rdf == root / "out" / PACKAGE_DIR / "rdf.yaml" and package.rdf.exists()
    return Exported(root / "model.pt", package.zip, threshold, meta)


def assert_passes_bioimageio_test_offline(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``bioimageio.core.test_model`` runs every check (format validation with io checks, which
    it always forces on, reproducing the test output and the parametrized input sizes, for
    both weight formats). No check needs the network, so none is disabled: the package has no
    URL fields (no ``git_repo``; cite entries with a DOI, which is only pattern-checked), and
    any HTTP request fails the test."""
    requests: list[str] = []

    def offline(self, request, **kwargs):
        requests.append(str(request.url))
        raise httpx.ConnectError("offline test", request=request)

    with monkeypatch.context() as patch:
        patch.setattr(httpx.Client, "send", offline)
        summary = bioimageio_core.test_model(package, devices=["cpu"])
    assert summary.status == "passed", summary.format()
    tested = {d.loc[1] for d in summary.details if len(d.loc) > 1 and d.loc[0] == "weights"}
    assert tested == {"torchscript", "pytorch_state_dict"}, tested
    assert not requests, requests


def test_package_passes_bioimageio_core_test_model_offline(exported, monkeypatch):
    assert_passes_bioimageio_test_offline(exported.package, monkeypatch)


@pytest.mark.parametrize("weight_format", ["torchscript", "pytorch_state_dict"])
def test_bioimageio_prediction_thresholded_equals_our_mask(exported, weight_format):
    raw = _volume((5, 48, 64), seed=3)  # larger than one patch, any z, y/x multiples of 2
    descr = load_description(exported.package)
    pipeline = create_prediction_pipeline(descr, weights_format=weight_format, devices=["cpu"])
    sample = predict(model=pipeline, inputs=raw[None, None].astype(np.float32))  # predict loads and unloads it
    prob = np.asarray(sample.members[MemberId("probability")].data)[0, 0]
    ours = TorchRunner(load_model(exported.model_pt))(normalise(raw)[None, None])[0]
    np.testing.assert_allclose(prob, ours, atol=1e-5)
    a, b = prob > exported.threshold, ours > exported.threshold
    assert 0.2 < a.mean() < 0.8  # a real mask, not all or nothing
    assert (a & b).sum() / (a | b).sum() >= 0.999


def test_rdf_documents_voxel_size_threshold_preprocessing_citations_and_licence(exported, tmp_path):
    with zipfile.ZipFile(exported.package) as z:
        rdf = yaml.safe_load(z.read("rdf.yaml"))
        readme = z.read(rdf["documentation"]["source"]).decode()
        arch = z.read(rdf["weights"]["pytorch_state_dict"]["architecture"]["source"]).decode()
        assert {rdf["covers"][0]["source"], "test_input.npy", "test_output.npy", "sample_input.tif"} <= set(z.namelist())
    assert exported.package.name == PACKAGE_ZIP and rdf["format_version"].startswith("0.5")
    assert "40 x 10 x 10 nm (z y x)" in readme and f"threshold {exported.threshold:g}" in readme
    assert "CLAHE" in readme and "Gaussian blur" in readme and "resize to 400 x 400" in readme
    assert readme.index("CLAHE (OpenCV") < readme.index("resize to 400 x 400")  # after_clahe order kept
    assert "preprocessed the same way" in readme and "UroCell" in readme and "CC BY-NC-SA 4.0" in readme
    assert PAPER_CITATION["doi"] in readme and "iou_fg" in readme and "validation foreground IoU of 0.2500" in readme
    assert [c.get("doi") for c in rdf["cite"]] == ["10.1093/bioadv/vbaf021", "10.5281/zenodo.7142003"]  # UroCell: no DOI/URL
    assert all(None not in c.values() for c in rdf["cite"])
    assert rdf["license"] == "MIT" and rdf["name"] == "vemtransfer SynthLiver-M-p3"
    assert [a["name"] for a in rdf["authors"]] == ["Test Author", "Second Author"]
    (inp,), (out,) = rdf["inputs"], rdf["outputs"]
    assert [a.get("id", a["type"]) for a in inp["axes"]] == ["batch", "channel", "z", "y", "x"]
    assert [(a["scale"], a["unit"]) for a in inp["axes"][2:]] == [(v, "nanometer") for v in VOXEL_NM]
    assert [a["size"] for a in inp["axes"][3:]] == [{"min": 2, "step": 2}] * 2
    scale = next(p for p in inp["preprocessing"] if p["id"] == "scale_linear")
    assert scale["kwargs"] == {"gain": GAIN, "offset": OFFSET}
    assert [p["id"] for p in out["postprocessing"]][0] == "sigmoid"
    assert rdf["config"]["vemtransfer"] == exported.meta  # model.json's content, whole
    assert rdf["config"]["vemtransfer"]["voxel_nm"] == VOXEL_NM and rdf["config"]["vemtransfer"]["preprocess"] == PREPROCESS
    assert "import vemtransfer" not in arch and "from vemtransfer" not in arch  # the architecture file is self-contained
    folder = export_bioimageio(exported.model_pt, tmp_path, {**exported.meta, "voxel_nm": None, "training_data": []},
                               zip=False, test_input=_volume((4, 40, 40), seed=1))
    assert folder.zip is None and folder.rdf.parent == tmp_path / PACKAGE_DIR and (folder.rdf.parent / "weights.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [PACKAGE_DIR]
    assert "not recorded" in (folder.rdf.parent / "README.md").read_text()
    assert np.load(folder.rdf.parent / "test_input.npy").shape == (1, 1, *PATCH)
    assert yaml.safe_load(folder.rdf.read_text())["name"] == "vemtransfer SynthLiver-M"  # default name from the metadata


def test_bad_patch_or_test_input_is_rejected(exported, tmp_path):
    with pytest.raises(ValueError, match="multiples of 2"):
        export_bioimageio(exported.model_pt, tmp_path, {**exported.meta, "patch_size": [3, 31, 32]})
    with pytest.raises(ValueError, match="test_input"):
        export_bioimageio(exported.model_pt, tmp_path, exported.meta, test_input=np.zeros((3, 32, 32), np.float32))
    assert list(tmp_path.iterdir()) == []  # nothing half-written


CLI_RUN = ["--source", "NoPretrain", "--target", "SynthLiver-M", "--budget", "p3"]


def test_cli_export_bioimageio_matches_the_torchscript_export_and_vemtransfer_predict(
        tiny_raw, tiny_config_file, trained, tmp_path, monkeypatch):  # noqa: F811 (trained: the imported fixture)
    """`vemtransfer export --format bioimageio` exports the model the default export does, with
    model.json's metadata; the package passes bioimageio.core's test offline, its test tensor is
    the task's prepared test volume, and it predicts the mask `vemtransfer predict` does."""
    ts, bio = tmp_path / "torchscript", tmp_path / "bioimageio-out"
    assert main(["export", str(tiny_config_file), *CLI_RUN, "--out", str(ts)]) == 0
    assert main(["export", str(tiny_config_file), *CLI_RUN, "--out", str(bio), "--format", "bioimageio", "--author", "Test Author"]) == 0
    assert sorted(p.name for p in bio.iterdir()) == [PACKAGE_DIR, PACKAGE_ZIP]
    rdf = yaml.safe_load((bio / PACKAGE_DIR / "rdf.yaml").read_text())
    meta = json.loads((ts / "model.json").read_text())
    assert rdf["config"]["vemtransfer"] == meta and meta["target"] == "SynthLiver-M" and meta["budget"] == "p3"
    assert meta["training_data"] == [{"name": "synthetic_liver", "task": "SynthLiver-M", "label": "mito", "role": "training",
                                      "kind": "generated"}]
    assert rdf["name"] == "vemtransfer SynthLiver-M NoPretrain p3 rep1" and [a["name"] for a in rdf["authors"]] == ["Test Author"]
    test_image = np.load(jobs.prepared_dir(tiny_raw, "SynthLiver-M") / "test.image.npy")  # (4, 64, 64): centre crop (4, 32, 32)
    np.testing.assert_array_equal(np.load(bio / PACKAGE_DIR / "test_input.npy")[0, 0], test_image[:, 16:48, 16:48])
    assert_passes_bioimageio_test_offline(bio / PACKAGE_ZIP, monkeypatch)

    # one training patch of raw sections (one window of `vemtransfer predict`, so no tile seams)
    src = tiny_raw["datasets"]["synthetic_liver"]
    raw = generate_tissue("liver", tuple(src["shape"]), src["seed"])[0][8:12, :32, :32]
    tifffile.imwrite(tmp_path / "user.tif", raw, photometric="minisblack")
    assert main(["predict", "--model", str(ts), "--input", str(tmp_path / "user.tif"), "--output", str(tmp_path / "cli.zarr"),
                 "--chunk", "4", "32", "32"]) == 0
    ours_prob, ours_mask = (a[...] for a in open_prediction(tmp_path / "cli.zarr"))
    preprocessed = np.stack([preprocess_image(s, meta["preprocess"]) for s in raw]).astype(np.float32)
    sample = predict(model=load_description(bio / PACKAGE_DIR / "rdf.yaml"), inputs=preprocessed[None, None])
    prob = np.asarray(sample.members[MemberId("probability")].data)[0, 0]
    np.testing.assert_allclose(prob, ours_prob, atol=1e-3)
    assert (np.asarray(ours_mask, bool) != (prob > meta["threshold"])).mean() < 1e-3


def test_cli_bioimageio_needs_its_extra_and_imports_it_only_then(tiny_config_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "bioimageio.spec", None)  # as if not installed
    args = ["export", str(tiny_config_file), *CLI_RUN, "--out", str(tmp_path / "out"), "--format", "bioimageio"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vemtransfer export: error: ") and "\n" not in err and "pip install 'vemtransfer[bioimageio]'" in err
    assert not (tmp_path / "out").exists()
    code = ("import sys, vemtransfer.cli, vemtransfer.export.torchscript, vemtransfer.export.bioimageio; "
            "print([m for m in sys.modules if m.startswith('bioimageio')])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
