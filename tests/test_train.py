import json

import numpy as np
import pytest
import torch

from vemtransfer.config import validate_config
from vemtransfer.data.patches import tile_origins
from vemtransfer.data.splits import Volume, split_paths
from vemtransfer.jobs import training
from vemtransfer.model.checkpoint import load_model, load_pretrained_weights, read_model_file, save_model
from vemtransfer.model.network import RSUNet
from vemtransfer.training.train import train_model

import job_helpers as jobs


def _volume(seed: int) -> Volume:
    rng = np.random.default_rng(seed)
    label = np.zeros((6, 32, 32), np.uint8)
    label[:, 8:20, 10:24] = 1
    image = np.clip(90 + 80 * label + rng.normal(0, 20, label.shape), 0, 255).astype(np.uint8)
    return Volume(image, label)


def _train(tiny_raw, out_dir, **kw):
    cfg = validate_config(tiny_raw)
    train_cfg = cfg.train_config("pretrain")
    train_cfg = type(train_cfg)(**{**train_cfg.__dict__, "max_steps": 7, "checkpoint_every": 2, "val_every": 3})
    origins = tile_origins((6, 32, 32), (4, 16, 16), (2, 8, 8))
    return train_model(_volume(0), _volume(1), origins, (4, 16, 16), train_cfg, cfg.model, cfg.evaluation, out_dir, seed=3, **kw)


def _weights(path):
    return read_model_file(path)["state_dict"]


def test_resumed_training_equals_uninterrupted(tiny_raw, tmp_path):
    full = _train(tiny_raw, tmp_path / "a")

    def crash(step):
        if step == 5:
            raise KeyboardInterrupt  # killed after the step-4 checkpoint

    with pytest.raises(KeyboardInterrupt):
        _train(tiny_raw, tmp_path / "b", callback=crash)
    assert (tmp_path / "b" / "checkpoint.pt").exists() and not (tmp_path / "b" / "model.pt").exists()
    resumed = _train(tiny_raw, tmp_path / "b")
    a, b = _weights(tmp_path / "a" / "model.pt"), _weights(tmp_path / "b" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["loss"] == full["loss"] and resumed["val"] == full["val"]
    assert resumed["best_step"] == full["best_step"]
    assert not (tmp_path / "b" / "checkpoint.pt").exists()


def test_checkpoint_from_other_settings_is_ignored(tiny_raw, tmp_path):
    def crash(step):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tiny_raw, tmp_path / "c", callback=crash)
    tiny_raw["model"]["widths"] = [2, 4, 4]  # a different network: the old checkpoint must not load
    history = _train(tiny_raw, tmp_path / "c")
    assert history["steps_done"] == 7 and history["loss"][0][0] == 1


def test_selected_model_is_the_best_on_validation(tiny_raw, tmp_path):
    history = _train(tiny_raw, tmp_path / "d")
    best = max(history["val"], key=lambda v: v[1])
    assert history["best_step"] == best[0]
    assert read_model_file(tmp_path / "d" / "model.pt")["selected_step"] == best[0]


def test_finetuning_loads_every_weight_and_rejects_mismatches(tmp_path):
    src = RSUNet((2, 4, 4, 8))
    for p in src.parameters():
        torch.nn.init.normal_(p)
    save_model(tmp_path / "m.pt", src, {})
    dst = RSUNet((2, 4, 4, 8))
    n = load_pretrained_weights(dst, tmp_path / "m.pt")
    assert n == len(src.state_dict())
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())
    assert all(p.requires_grad for p in dst.parameters())  # nothing frozen
    with pytest.raises(ValueError, match="shape"):
        load_pretrained_weights(RSUNet((2, 4, 4, 16)), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="missing"):
        load_pretrained_weights(RSUNet((2, 4, 4, 8, 8)), tmp_path / "m.pt")
    (tmp_path / "bad.pt").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="not a readable"):
        load_model(tmp_path / "bad.pt")


def test_training_never_reads_the_test_split(tiny_raw, tmp_path, monkeypatch):
    jobs.prepare(tiny_raw, "SynthLiver-M")
    folder = jobs.prepared_dir(validate_config(tiny_raw).raw, "SynthLiver-M")
    for path in split_paths(folder, "test"):
        path.unlink()  # training must not need them
    opened = []
    real = training.load_split
    monkeypatch.setattr(training, "load_split", lambda d, split: opened.append(split) or real(d, split))
    out = tmp_path / "results" / "m" / "model.pt"
    jobs.train(tiny_raw, "NoPretrain", "SynthLiver-M", "p3", 1, out, init=None)
    assert sorted(opened) == ["train", "val"] and out.exists()


def test_evaluation_record_has_provenance(tiny_raw, tmp_path):
    jobs.prepare(tiny_raw, "SynthLiver-M")
    model = tmp_path / "results" / "m" / "model.pt"
    jobs.train(tiny_raw, "NoPretrain", "SynthLiver-M", "f0.5", 2, model, init=None)
    out = tmp_path / "metrics.json"
    jobs.evaluate(tiny_raw, "finetune/NoPretrain__SynthLiver-M/f0.5/rep2", "SynthLiver-M", model, out)
    rec = json.loads(out.read_text())
    assert rec["source"] == "NoPretrain" and rec["budget"] == "f0.5" and rec["rep"] == 2
    assert {"seed", "config_hash", "git_commit", "checkpoint", "selected_step"} <= set(rec)
    assert 0 <= rec["scores"]["iou_fg"] <= 1 and rec["demo"] is True
    c = rec["counts"]
    assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == np.prod(rec["test_shape"])
    with pytest.raises(ValueError, match="trained for SynthLiver-M"):
        jobs.evaluate(tiny_raw, "x", "SynthKidney-M", model, out)


def test_deterministic_switch_holds_during_training_only(tiny_raw, tmp_path):
    tiny_raw["train"]["deterministic"] = True
    seen = []
    _train(tiny_raw, tmp_path / "d", callback=lambda step: seen.append(torch.are_deterministic_algorithms_enabled()))
    assert seen and all(seen)
    assert not torch.are_deterministic_algorithms_enabled()  # restored for whatever runs next
    a = _weights(tmp_path / "d" / "model.pt")
    _train(tiny_raw, tmp_path / "e")
    b = _weights(tmp_path / "e" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_compile_switch_compiles_the_network_once(tiny_raw, tmp_path, monkeypatch):
    compiled = []  # the real compile takes ~40 s on this CPU: `python -m benchmarks.train_throughput --compile` runs it
    monkeypatch.setattr(RSUNet, "compile", lambda self, *a, **k: compiled.append(self))
    _train(tiny_raw, tmp_path / "plain")
    assert not compiled
    tiny_raw["train"]["compile"] = True
    _train(tiny_raw, tmp_path / "c")
    assert len(compiled) == 1 and isinstance(compiled[0], RSUNet)
