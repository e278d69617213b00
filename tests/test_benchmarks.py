"""The benchmarks' ``--smoke`` modes run and print their tables, so the suite cannot rot.

Nothing here asserts a speed or a memory figure: those depend on the machine and belong in
benchmarks/README.md, not in pass/fail tests.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import cpu_options, inference_engines, inference_memory, prepare_memory, real_em, train_throughput, workflow_overhead

needs_mirror = pytest.mark.skipif(not real_em.MIRROR.is_dir(), reason=f"the real-data mirror {real_em.MIRROR} is absent")


def _rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row printed (header and separator lines excluded)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("| ") and not re.match(r"^\|[-|]+\|$", ln)]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def _number(cell: str) -> float:
    value = float(cell.replace(",", ""))
    assert math.isfinite(value), cell
    return value


@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_train_throughput_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    results = train_throughput.main(["--smoke"])
    out = capsys.readouterr().out
    rows = {r[0]: r for r in _rows(out)}
    assert "CPU" in out or "GPU" in out
    assert {"reference (authors' fp32 loop)", "ours (train_model)", "ours + torch.compile"} <= set(rows)
    assert _number(rows["reference (authors' fp32 loop)"][2]) == 1.0
    assert _number(rows["ours (train_model)"][2]) > 0
    ref, ours = results[0], results[1]
    # Same init, same batches, fp32 on CPU: both loops optimise the same thing.
    assert ours.final_loss == pytest.approx(ref.final_loss, rel=1e-3)


@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_inference_memory_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    inference_memory.main(["--smoke"])
    out = capsys.readouterr().out
    rows = _rows(out)
    cases = [r for r in rows if r[2:3] and r[2] in ("predict_volume", "predict_to_zarr")]
    # predict_volume only up to --in-memory-max (the smoke's two smallest volumes), predict_to_zarr at every size
    assert [r[2] for r in cases].count("predict_to_zarr") == 4 and [r[2] for r in cases].count("predict_volume") == 2
    for r in cases:
        assert _number(r[4]) > 0 and _number(r[5]) > 0  # voxels/s, peak RSS
    derived = {r[0]: _number(r[1]) for r in rows if len(r) == 2 and r[0] != "derived from the rows above"}
    assert any(k.startswith("predict_to_zarr: peak RSS growth") for k in derived) and len(derived) == 3
    assert "on CPU" in out or "on GPU" in out


@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_inference_engines_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    rows = inference_engines.main(["--smoke"])
    out = capsys.readouterr().out
    assert [r[1] for r in rows[:6]] == ["torch fp32, batch 4 (baseline)", "torch fp32 channels_last_3d", "torch fp32, batch 16",
                                        "onnxruntime fp32", "openvino fp32", "openvino fp32, batch 16"]
    for r in rows:
        # voxels/s; equal masks. A CPU with native bf16 (avx512_bf16, AMX) adds an "openvino bf16" row: bf16 keeps
        # 8 bits of mantissa, so its probabilities differ by up to ~1e-2 while the masks still agree.
        low = "bf16" in r[1] or "fp16" in r[1]
        assert r[3] > 0 and r[5] > (0.98 if low else 0.99) and r[6] < (2e-2 if low else 1e-4), r
    assert "on CPU" in out and "mask IoU vs baseline" in out


def test_lazy_volume_is_deterministic_and_never_materialised() -> None:
    vol = inference_memory.LazyVolume((100_000, 100_000, 100_000))  # 10^15 voxels: only reads cost memory
    a = vol[(slice(5, 7), slice(10, 42), slice(99_990, 100_000))]
    assert a.shape == (2, 32, 10) and a.dtype == np.uint8 and a.std() > 30
    assert np.array_equal(a[1], vol[(slice(6, 7), slice(10, 42), slice(99_990, 100_000))][0])


@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_workflow_overhead_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    workflow_overhead.main(["--smoke"])
    rows = _rows(capsys.readouterr().out)
    assert [r[0].split()[0] for r in rows[1:]] == ["python", "python", "snakemake"]
    assert _number(rows[-1][2]) > 0 and int(rows[-1][3]) > 0


@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_prepare_memory_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    rows = prepare_memory.main(["--smoke"])
    out = capsys.readouterr().out
    assert [r[0] for r in rows] == ["stack the region", "prepare_task", "one section", "stack the region", "prepare_task"]
    for r in _rows(out)[1:6]:
        assert _number(r[2]) > 0 and _number(r[4]) >= _number(r[3]) > 0  # seconds; peak >= peak after imports
    derived = {r[0]: r[1] for r in _rows(out) if len(r) == 2}
    assert any(k.startswith("prepare_task: peak RSS growth") for k in derived)


def test_threshold_baseline_finds_the_level_and_polarity_on_the_training_split() -> None:
    rng = np.random.default_rng(0)
    label = (rng.random((3, 20, 20)) < 0.3).astype(np.uint8)
    image = np.where(label == 1, 60, 180).astype(np.uint8)  # dark objects
    test_label = label[::-1].copy()
    got = real_em.threshold_scores(image, label, np.where(test_label == 1, 60, 180), test_label, sigma=0.0)
    assert got["dark"] and 60 < got["level"] < 180 and got["train_iou"] == 1.0 and got["iou_fg"] == 1.0
    bright = real_em.threshold_scores(255 - image, label, 255 - np.where(test_label == 1, 60, 180), test_label, sigma=0.0)
    assert not bright["dark"] and bright["iou_fg"] == 1.0
    label[0, 0, 0] = 255  # unlabelled voxels are left out of the choice
    assert real_em.threshold_scores(image, label, image, label, sigma=1.0)["train_iou"] <= 1.0


def test_real_em_methods_option_and_summary_line_say_n_a_for_what_did_not_run() -> None:
    assert real_em._methods("threshold,rf") == ["threshold", "rf"]
    with pytest.raises(Exception, match="subset of network,threshold,rf"):
        real_em._methods("rf,ilastik")
    row = {"task": "HeLa-M", "network": None, "set_s": 120.0,
           "rf": {"iou_fg": 0.5, "seconds": 90.0, "train_pixels": 1000, "threshold": 0.6, "val_iou": 0.55, "precision": 0.5, "recall": 0.6},
           "thresholds": {s: {"iou_fg": v, "dark": True, "level": 90.5, "precision": 0.3, "recall": 0.5} for s, v in ((0.0, 0.2), (2.0, 0.25))}, "why_no_network": "isolated sections (training volumes [1, 1] deep)"}
    assert real_em.summary_line(row) == ("real_em: task=HeLa-M test_iou=n/a rf_iou=0.5000 threshold_iou=0.2500 train_minutes=n/a "
                                         "rf_minutes=1.50 set_minutes=2.00")
    assert "model: n/a (isolated sections" in real_em._table_rows([row])[0][1]


@needs_mirror
def test_real_em_hela_is_five_isolated_sections_that_only_a_planned_network_trains_on(tmp_path) -> None:
    from vemtransfer.config import validate_config
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.splits import load_split
    from vemtransfer.jobs.planning import plan_task_job

    raw = dict(validate_config(real_em.benchmark_config("http://127.0.0.1:9", tmp_path, "cpu", [])).raw)  # HeLa is local: no server
    real_em._prepare(raw, "HeLa-M")
    folder = Path(Layout.of(raw).prepared_dir("HeLa-M"))
    train, val, test = (load_split(folder, s) for s in ("train", "val", "test"))
    assert list(train.blocks) == list(test.blocks) == [1, 1] and list(val.blocks) == [1]  # validation: the third section, whole
    assert train.image.shape == test.image.shape == (2, 2000, 2000) and val.image.shape == (1, 2000, 2000)
    assert set(np.unique(test.label)) == {0, 1} and 0.005 < test.label.mean() < 0.03
    assert real_em.no_network(raw, [1, 1]).startswith("isolated sections")
    plan = plan_task_job(validate_config(raw), "HeLa-M", Layout.of(raw).patch_index("HeLa-M"), tmp_path / "plan.json")
    assert plan["choices"]["window"]["value"][0] == 1 and plan["choices"]["validation_size"]["value"][0] == 1
    assert real_em.no_network({**raw, "plan": {**raw["plan"], "apply": True}}, [1, 1]) is None


@needs_mirror
@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_real_em_smoke(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    rows = real_em.main(["--smoke", "--workdir", str(tmp_path), "--overlay", str(tmp_path / "overlay.png")])
    out = capsys.readouterr().out
    assert re.search(r"^real_em: task=FlyVNC-M test_iou=\d\.\d{4} rf_iou=0\.\d{4} threshold_iou=0\.1\d{3} train_minutes=\d+\.\d\d "
                     r"rf_minutes=\d+\.\d\d set_minutes=\d+\.\d\d$", out, re.M), out
    methods = [r[1] for r in _rows(out)[1:]]
    assert methods[0].startswith("model") and methods[1].startswith("pixel classifier") and sum(m.startswith("threshold") for m in methods) == 2
    assert rows[0]["network"]["steps"] == 2 and (tmp_path / "overlay.png").stat().st_size > 10_000
    assert "SMOKE" in out


@needs_mirror
@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_cpu_options_smoke(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    results = cpu_options.main(["--smoke", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert set(results) == {"fp32", "fp32 + channels_last"}
    rows = {r[0]: r for r in _rows(out)[1:]}
    assert _number(rows["fp32"][4]) == 1.0 and _number(rows["fp32 + channels_last"][2]) > 0


@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_gpu_suite_smoke_writes_one_json_line_per_case(tmp_path) -> None:
    import json

    from benchmarks import gpu_suite

    gpu_suite.main(["--smoke", "--out", str(tmp_path)])
    rows = [json.loads(line) for line in (tmp_path / "gpu_suite.jsonl").read_text().splitlines()]
    assert all({"benchmark", "case", "commit", "device", "torch"} <= set(r) for r in rows)
    assert not [r for r in rows if "error" in r], [r["error"] for r in rows if "error" in r]
    by = {b: [r for r in rows if r["benchmark"] == b] for b in ("gpu_slots", "train_throughput", "job_time", "paper_grid", "predict_volume", "real_em")}
    assert all(by.values()), {k: len(v) for k, v in by.items()}
    train = by["train_throughput"]
    assert train[0]["ratio_vs_reference"] == 1.0 and all(r["ratio_vs_reference"] > 0 for r in train[1:])
    assert {r["stage"] for r in by["job_time"]} == {"pretrain", "finetune"}
    assert by["paper_grid"][0]["paper_grid"]["one_gpu"]["targets"]["all (Table 2 + Fig. 2)"]["gpu_hours"] > 0
    summaries = [r for r in by["predict_volume"] if "mask_iou_vs_reference" in r]
    assert len(summaries) == 2 and all(r["mask_iou_vs_reference"] >= 0.999 and r["voxels_per_s"] > 0 for r in summaries)
    assert all(r["peak_rss_mb"] > 0 for r in by["predict_volume"])
    assert len(by["real_em"]) == 3 and all("no --testdata" in r["skipped"] for r in by["real_em"])
