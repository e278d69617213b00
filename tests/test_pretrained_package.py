"""A pretrained source shared as an artefact: exported (checkpoint or bioimage.io package), served from
127.0.0.1, imported by URL + sha256 or by path, it gives the original's weights and the same fine-tune."""

from __future__ import annotations

import hashlib
import zipfile

import pytest
import torch
import yaml

from vemtransfer.cli import main
from vemtransfer.model.checkpoint import read_model_file
from vemtransfer.model.package import is_package, package_to_model_file
from vemtransfer.model.pretrained import import_model

import job_helpers as jobs
from loopback import FileServer

SOURCE, TARGET = "SynthKidney-M", "SynthLiver-M"
WIDTHS = [2, 4, 4, 8]


def _same_weights(a, b) -> bool:
    sa, sb = read_model_file(a)["state_dict"], read_model_file(b)["state_dict"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def pretrained(tiny_raw):
    """SynthKidney-M pretrained through the workflow's job (4 steps)."""
    jobs.prepare(tiny_raw, SOURCE)
    model = jobs.model_path(tiny_raw, f"pretrain/{SOURCE}/rep1")
    jobs.train(tiny_raw, SOURCE, SOURCE, "full", 1, model)
    return model


@pytest.mark.slow
def test_exported_source_imports_by_url_and_package_and_fine_tunes_the_same(tiny_raw, tiny_config_file, pretrained, tmp_path):
    share = tmp_path / "www"
    assert main(["export", str(tiny_config_file), "--stage", "pretrain", "--source", SOURCE, "--out", str(share / "ckpt")]) == 0
    assert main(["export", str(tiny_config_file), "--stage", "pretrain", "--source", SOURCE, "--format", "bioimageio",
                 "--author", "Test Author", "--out", str(share / "pkg")]) == 0
    assert (share / "ckpt" / "model.pt").read_bytes() == pretrained.read_bytes()
    assert yaml.safe_load((share / "ckpt" / "model.json").read_text())["target"] == SOURCE
    package = share / "pkg" / "bioimageio.zip"
    assert is_package(package) and not is_package(pretrained) and zipfile.is_zipfile(pretrained)  # a torch file is a zip too
    entry = yaml.safe_load((share / "pkg" / "pretrained.yaml").read_text())["pretrained"][SOURCE]
    assert entry == {"path": str(package.resolve()), "sha256": hashlib.sha256(package.read_bytes()).hexdigest()}

    imported = {}
    with FileServer(share) as server:  # another machine: only the URL and the sha256 travel
        for name, rel in (("ckpt_url", "ckpt/model.pt"), ("pkg_url", "pkg/bioimageio.zip")):
            sha = hashlib.sha256((share / rel).read_bytes()).hexdigest()
            record = import_model({"url": server.url(rel), "sha256": sha}, tmp_path / name / "model.pt", SOURCE, WIDTHS)
            assert record["sha256"] == sha and record["source_meta"]["target"] == SOURCE
            imported[name] = tmp_path / name / "model.pt"
    import_model(entry, tmp_path / "pkg_path" / "model.pt", SOURCE, WIDTHS)  # the pasted pretrained.yaml entry
    imported["pkg_path"] = tmp_path / "pkg_path" / "model.pt"
    assert imported["ckpt_url"].read_bytes() == pretrained.read_bytes()
    for path in imported.values():
        assert _same_weights(path, pretrained) and not path.with_name("model.pt.fetched").exists()
    assert read_model_file(imported["pkg_url"])["seed"] == read_model_file(pretrained)["seed"]

    jobs.prepare(tiny_raw, TARGET)  # fine-tunes from the original and from the package's model: equal, weight for weight
    tuned = {}
    for name, init in (("original", pretrained), ("package", imported["pkg_url"])):
        tuned[name] = tmp_path / "tuned" / name / "model.pt"
        jobs.train(tiny_raw, SOURCE, TARGET, "p3", 1, tuned[name], init=init)
    assert _same_weights(tuned["original"], tuned["package"])
    assert not _same_weights(tuned["original"], pretrained)  # it did train


def test_package_errors_are_clear(tmp_path, pretrained, tiny_config_file):
    assert main(["export", str(tiny_config_file), "--stage", "pretrain", "--source", SOURCE, "--format", "bioimageio",
                 "--out", str(tmp_path / "pkg")]) == 0
    good = tmp_path / "pkg" / "bioimageio.zip"
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:-8] + bytes(8) if item.filename == "weights.pt" else data)
    with pytest.raises(ValueError, match="does not match the sha256"):
        package_to_model_file(bad, tmp_path / "x.pt")
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="trained on 'SynthKidney-M', imported as 'SynthLiver-M'"):
        import_model({"path": str(good), "sha256": sha}, tmp_path / "y" / "model.pt", TARGET, WIDTHS)
    assert not (tmp_path / "y" / "model.pt").exists() and not (tmp_path / "y" / "model.pt.fetched").exists()
    assert main(["export", str(tiny_config_file), "--stage", "pretrain", "--out", str(tmp_path / "z")]) == 2  # no --source
