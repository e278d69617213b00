"""Importing pretrained source models from a path or URL, verified, instead of training them."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch
import yaml

from vemtransfer.config import ConfigError, validate_config
from vemtransfer.data.download import DownloadError
from vemtransfer.model.checkpoint import read_model_file, save_model
from vemtransfer.model.network import RSUNet
from vemtransfer.model.pretrained import import_model, model_spec

from loopback import FileServer
from workflow_helpers import job_stats, snakemake


def _model_file(path, task="SynthKidney-M", widths=(2, 4, 4, 8)):
    torch.manual_seed(0)
    save_model(path, RSUNet(list(widths), 0.1), {"source": task, "target": task, "budget": "full", "rep": 1, "seed": 0})
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_from_path_and_url_verifies_and_checks_the_model(tmp_path):
    src, sha = _model_file(tmp_path / "kidney.pt")
    rec = import_model({"path": str(src), "sha256": sha}, tmp_path / "a" / "model.pt", "SynthKidney-M", [2, 4, 4, 8])
    assert rec["sha256"] == sha and read_model_file(tmp_path / "a" / "model.pt")["target"] == "SynthKidney-M"
    with FileServer(tmp_path) as srv:
        import_model({"url": srv.url("kidney.pt"), "sha256": sha}, tmp_path / "b" / "model.pt", "SynthKidney-M", [2, 4, 4, 8])
        assert (tmp_path / "b" / "model.pt").read_bytes() == src.read_bytes()
        with pytest.raises(DownloadError, match="verification"):
            import_model({"url": srv.url("kidney.pt"), "sha256": "0" * 64}, tmp_path / "c" / "model.pt", "SynthKidney-M", [2, 4, 4, 8])
    with pytest.raises(ValueError, match="sha256"):
        import_model({"path": str(src), "sha256": "0" * 64}, tmp_path / "d" / "model.pt", "SynthKidney-M", [2, 4, 4, 8])
    with pytest.raises(ValueError, match="widths"):
        import_model({"path": str(src), "sha256": sha}, tmp_path / "e" / "model.pt", "SynthKidney-M", [4, 8, 8, 16])
    with pytest.raises(ValueError, match="trained on 'SynthKidney-M', imported as 'SynthBrain-N'"):
        import_model({"path": str(src), "sha256": sha}, tmp_path / "f" / "model.pt", "SynthBrain-N", [2, 4, 4, 8])
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable vemtransfer model"):
        import_model({"path": str(junk), "sha256": hashlib.sha256(b"not a model").hexdigest()}, tmp_path / "g" / "model.pt", "SynthKidney-M", [2, 4, 4, 8])
    assert not any((tmp_path / d / "model.pt").exists() for d in "cdefg")


def test_one_model_serves_every_repeat_or_one_per_repeat():
    assert model_spec({"path": "a"}, 3) == {"path": "a"}
    assert model_spec([{"path": "a"}, {"path": "b"}], 2) == {"path": "b"}


def test_pretrained_config_errors(tiny_raw):
    tiny_raw["pretrained"] = {"SynthLiver-M": {"path": "x.pt", "sha256": "0" * 64}}
    with pytest.raises(ConfigError, match="pretrained.SynthLiver-M: not one of experiment.sources"):
        validate_config(tiny_raw)
    tiny_raw["pretrained"] = {"SynthKidney-M": [{"path": "x.pt", "sha256": "0" * 64}] * 2}
    with pytest.raises(ConfigError, match="2 models for 1 repeats"):
        validate_config(tiny_raw)
    tiny_raw["pretrained"] = {"SynthKidney-M": {"path": "x.pt"}}
    with pytest.raises(ConfigError, match="pretrained.SynthKidney-M"):
        validate_config(tiny_raw)


@pytest.mark.workflow
def test_imported_source_model_replaces_pretraining_in_the_workflow(repo, tmp_path, tiny_raw):
    """Pretrain once, then a second project imports that model by path: no pretraining, same fine-tune input."""
    first = tmp_path / "first"
    first.mkdir()
    cfg1 = first / "c.yaml"
    tiny = {**tiny_raw, "results_dir": str(first / "results"), "resources_dir": str(first / "resources"), "logs_dir": str(first / "logs")}
    cfg1.write_text(yaml.safe_dump(tiny))
    model = first / "results" / "models" / "pretrain" / "SynthKidney-M" / "rep1" / "model.pt"
    res = snakemake(first, str(model), "--cores", "2", "--configfile", str(cfg1))
    assert res.returncode == 0, res.stderr[-4000:]
    shared = tmp_path / "shared_kidney.pt"
    shutil.copyfile(model, shared)

    second = tmp_path / "second"
    second.mkdir()
    tiny2 = {**tiny_raw, "results_dir": str(second / "results"), "resources_dir": str(second / "resources"), "logs_dir": str(second / "logs"),
             "pretrained": {"SynthKidney-M": {"path": str(shared), "sha256": hashlib.sha256(shared.read_bytes()).hexdigest()}}}
    cfg2 = second / "c.yaml"
    cfg2.write_text(yaml.safe_dump(tiny2))
    table = second / "results" / "tables" / "table2.csv"
    dry = snakemake(second, str(table), "-n", "--cores", "2", "--configfile", str(cfg2))
    assert dry.returncode == 0, dry.stderr[-4000:]
    jobs = job_stats(dry.stdout + dry.stderr)
    assert jobs["import_pretrained"] == 1 and "pretrain_model" not in jobs
    res = snakemake(second, str(table), "--cores", "2", "--configfile", str(cfg2))
    assert res.returncode == 0, res.stderr[-4000:]
    imported = second / "results" / "models" / "pretrain" / "SynthKidney-M" / "rep1" / "model.pt"
    assert imported.read_bytes() == shared.read_bytes()
