"""The fast recommendation protocol: rungs resumed over one horizon, and the pruning rule."""

import json

import pytest
import torch
import yaml
from test_train import _train, _weights
from workflow_helpers import snakemake

from vemtransfer.config import ConfigError, validate_config
from vemtransfer.jobs.rungs import rung_job
from vemtransfer.report.rungs import load_rung_histories, rungs_markdown, select_rung, select_survivors


def test_rungs_resumed_equal_one_uninterrupted_run(tiny_raw, tmp_path):
    """Rung 1 stops at step 3 (state.pt kept), rung 2 resumes it to the horizon (7 steps, cosine over all 7):
    the same weights, losses and validations as one uninterrupted run."""
    raw = {**tiny_raw, "train": {**tiny_raw["train"], "lr_schedule": "cosine", "warmup": 0.2}}
    full = _train(raw, tmp_path / "full")
    first = _train(raw, tmp_path / "rung1", stop_at=3)
    assert first["steps_done"] == 3 and first["steps_planned"] == 7 and not first["stopped_early"]
    assert (tmp_path / "rung1" / "state.pt").exists() and (tmp_path / "rung1" / "model.pt").exists()
    second = _train(raw, tmp_path / "rung2", resume_from=tmp_path / "rung1" / "state.pt")
    a, b = _weights(tmp_path / "full" / "model.pt"), _weights(tmp_path / "rung2" / "model.pt")
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    assert second["loss"] == full["loss"] and second["val"] == full["val"] and second["best_step"] == full["best_step"]
    assert not (tmp_path / "rung2" / "state.pt").exists()


def _rung_histories(tmp_path, means: dict[str, float], noise: dict[int, float], pruned=()) -> list:
    """Rung histories of 3 repeats x 2 fractions: each source's mean plus a noise shared by repeat (so pairing removes it)."""
    paths = []
    for source, mean in means.items():
        for budget in ("f1", "f0.5"):
            for rep, shared in noise.items():
                h = {"source": source, "target": "Lab-M", "budget": budget, "rep": rep, "best_val_iou_fg": (mean + shared) / 100}
                if source in pruned:
                    h["pruned_at"] = 1
                path = tmp_path / f"{source}_{budget}_{rep}.json"
                path.write_text(json.dumps(h))
                paths.append(path)
    return paths


def test_only_a_candidate_clearly_worse_than_the_best_is_dropped(tmp_path):
    """Far below the best (paired interval below 0): dropped, with why; within noise of the best: kept; NoPretrain: always kept."""
    noise = {1: -8.0, 2: 0.0, 3: 8.0}
    paths = _rung_histories(tmp_path, {"NoPretrain": 30.0, "Good": 60.0, "Close": 59.0, "Bad": 40.0}, noise)
    # break the pairing for Close: its repeats disagree, so its interval includes the best
    close = [p for p in paths if p.name.startswith("Close") and p.name.endswith("_2.json")]
    for p in close:
        h = json.loads(p.read_text())
        p.write_text(json.dumps(h | {"best_val_iou_fg": 0.50}))
    record = select_rung(paths, None, "Lab-M", 1, 60, tmp_path / "rung1.json")
    assert record["best"] == "Good"
    assert record["survivors"] == ["Close", "Good", "NoPretrain"]
    assert [d["source"] for d in record["dropped"]] == ["Bad"]
    assert "vs Good at 60 steps" in record["dropped"][0]["why"] and record["dropped"][0]["gain"][2] < 0
    # the next rung: Bad's marker is ignored, the dropped list carries over, Close now clearly worse
    (tmp_path / "r2").mkdir()
    paths2 = _rung_histories(tmp_path / "r2", {"NoPretrain": 30.0, "Good": 70.0, "Close": 50.0, "Bad": 99.0}, noise, pruned=("Bad",))
    record2 = select_rung(paths2, tmp_path / "rung1.json", "Lab-M", 2, 180, tmp_path / "rung2.json")
    assert record2["survivors"] == ["Good", "NoPretrain"] and "Bad" not in record2["scores"]
    assert [(d["source"], d["rung"]) for d in record2["dropped"]] == [("Bad", 1), ("Close", 2)]
    md = rungs_markdown([tmp_path / "rung1.json", tmp_path / "rung2.json"], 500, {"Good": 71.0, "NoPretrain": 31.0})
    assert "Bad: -20.0 points" in md and "Close: -20.0 points" in md and "500 steps" in md
    assert "|      3 |     500 | Good" in md and "Good 71.0, NoPretrain 31.0" in md


def test_nobody_is_dropped_without_an_interval_and_no_pretrain_never(tmp_path):
    one_repeat = select_survivors(load_rung_histories(_rung_histories(tmp_path, {"NoPretrain": 10.0, "A": 90.0, "B": 20.0}, {1: 0.0})),
                                  ["A", "B", "NoPretrain"], 1, 60)
    assert one_repeat["survivors"] == ["A", "B", "NoPretrain"] and not one_repeat["dropped"]
    noise = {1: -1.0, 2: 0.0, 3: 1.0}
    runs = load_rung_histories(_rung_histories(tmp_path, {"NoPretrain": 10.0, "A": 90.0}, noise))
    assert select_survivors(runs, ["A", "NoPretrain"], 1, 60)["survivors"] == ["A", "NoPretrain"]


def test_pruned_rung_job_copies_its_last_model_and_says_why(tmp_path):
    prev = tmp_path / "rung1"
    prev.mkdir()
    (prev / "model.pt").write_bytes(b"weights")
    (prev / "history.json").write_text(json.dumps({"source": "Bad", "best_val_iou_fg": 0.4}))
    survivors = tmp_path / "survivors.json"
    survivors.write_text(json.dumps({"survivors": ["NoPretrain"], "dropped": [{"source": "Bad", "rung": 1, "why": "-20 vs Good"}]}))
    out = tmp_path / "rung2" / "model.pt"
    h = rung_job(None, "Bad", "Lab-M", "f1", 1, "unused", out, None, rung=2, rungs=[2, 4, 8], survivors=survivors, previous=prev / "model.pt")
    assert h["pruned_at"] == 1 and h["pruned_why"] == "-20 vs Good"
    assert out.read_bytes() == b"weights" and (tmp_path / "rung2" / "state.pt").exists()


def _fast_raw(tiny_raw):
    """The tiny config with a recommend task of its own (SynthLiver-M, not an experiment target) under the fast protocol."""
    raw = {**tiny_raw, "figures": {}}
    raw["experiment"] = {**tiny_raw["experiment"], "targets": ["SynthKidney-M"], "scenarios": []}
    raw["recommend"] = {"tasks": ["SynthLiver-M"], "repeats": 2, "protocol": "fast", "rungs": [2, 4, 6]}
    return raw


def test_fast_protocol_config_checks(tiny_raw):
    assert validate_config(_fast_raw(tiny_raw)).raw["recommend"]["protocol"] == "fast"
    assert validate_config(tiny_raw).raw["recommend"]["protocol"] == "full"
    for change, words in (({"repeats": 1}, "repeats >= 2"), ({"rungs": [4, 2]}, "must increase")):
        raw = _fast_raw(tiny_raw)
        raw["recommend"] |= change
        with pytest.raises(ConfigError, match=words):
            validate_config(raw)
    raw = _fast_raw(tiny_raw)
    raw["experiment"]["targets"] = ["SynthKidney-M", "SynthLiver-M"]
    with pytest.raises(ConfigError, match="also an experiment target"):
        validate_config(raw)


@pytest.mark.workflow
def test_fast_protocol_dry_run_shows_the_rung_jobs(tiny_raw, tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(_fast_raw(tiny_raw)))
    out = snakemake(tmp_path, "-n", "--configfile", str(path), "-c1", "--quiet", "rules")
    assert out.returncode == 0, out.stderr[-3000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in out.stdout.splitlines() if len(line.split()) == 2 and line.split()[1].isdigit()}
    # NoPretrain + 1 source, 2 fractions, 2 repeats: 8 runs, rungs 1-2 as finetune_rung, rung 3 as finetune_model
    assert counts["finetune_rung"] == 16 and counts["select_rung"] == 2 and counts["recommend_source"] == 1
    assert counts["finetune_model"] == 8 + 1  # the 8 rung-3 fine-tunes and Table 2's NoPretrain__SynthKidney-M


@pytest.mark.workflow
def test_fast_protocol_runs_end_to_end(tiny_raw, tmp_path):
    """The tiny fast recommendation for real: rungs train and resume, survivors are written, the report shows the rungs."""
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(_fast_raw(tiny_raw)))
    target = "results/recommend/SynthLiver-M/recommendation.md"
    out = snakemake(tmp_path, "--configfile", str(path), "-c2", str(tmp_path / target))
    assert out.returncode == 0, out.stderr[-4000:]
    md = (tmp_path / target).read_text()
    assert "## Rungs" in md and "6 steps" in md and "|      3 |       6 |" in md
    rung2 = json.loads((tmp_path / "results/recommend/SynthLiver-M/rung2.json").read_text())
    assert "NoPretrain" in rung2["survivors"] and rung2["steps"] == 4
    final = json.loads((tmp_path / "results/models/finetune/NoPretrain__SynthLiver-M/f1/rep1/history.json").read_text())
    assert final["steps_planned"] == 6 and final["steps_done"] == 6 and final["loss"][0][0] == 1
    assert not list((tmp_path / "results/models/finetune").rglob("state.pt"))
