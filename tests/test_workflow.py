"""The Snakemake DAG end to end: dry runs of the paper config, a real run of a tiny config."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from vemtransfer.baselines import rows as baseline_rows
from vemtransfer.config import Config, grid, load_config
from vemtransfer.core.layout import SPLITS, Layout, zarr_marker
from vemtransfer.inference.ome import open_prediction
from vemtransfer.inference.runners import make_runner
from vemtransfer.inference.volume import predict_to_zarr
from vemtransfer.model.checkpoint import load_model

from workflow_helpers import job_outputs, job_resources, job_stats, snakemake

pytestmark = pytest.mark.workflow


def test_paper_config_dry_run_has_the_papers_job_counts(repo, tmp_path):
    res = snakemake(repo, "-n", "--cores", "8", "--resources", "gpu=1", "--configfile", str(repo / "config" / "config.yaml"))
    assert res.returncode == 0, res.stderr + res.stdout
    jobs = job_stats(res.stdout + res.stderr)
    assert jobs["pretrain_model"] == 15
    assert jobs["finetune_model"] == 111 + 75
    assert jobs["evaluate_model"] == 201
    assert jobs["prepare_task"] == 9 and jobs["download_dataset"] == 5  # UroCell's 3 folds; rat liver twice: tasks, Fig. 5 volume
    assert jobs["make_table2"] == 1 and jobs["plot_fig2"] == 1
    assert jobs["predict_test"] == 6 and jobs["mesh_volume"] == 2
    assert jobs["predict_blocks"] == 2 * 4 and jobs["assemble_prediction"] == 2  # prediction.jobs: 4 per Fig. 5 organelle
    assert all(jobs[f"plot_fig{i}"] == 1 for i in (3, 4, 5))
    assert jobs["make_table3"] == 1 and jobs["segment_sam2"] == 4  # Table 3 is part of `all`
    assert _layout_outputs(load_config(repo / "config" / "config.yaml")) == job_outputs(res.stdout + res.stderr)


def _layout_outputs(cfg: Config) -> dict[str, set[str]]:
    """Every rule's outputs for the config's whole grid, formatted from vemtransfer.core.layout alone."""
    L, exp, figs = Layout.of(cfg.raw), cfg.experiment, cfg.raw["figures"]
    runs = grid.all_runs(exp)
    data = [d for t in cfg.tasks.values() for d in t.data_ids()]
    datasets = {t.dataset for t in cfg.tasks.values()} | {figs["fig5"]["dataset"]}
    rows = baseline_rows.rows(cfg.raw)
    weights = {m: baseline_rows.weights_name(cfg.raw, m) for m in ("sam2", "mitonet")}
    ft = cfg.raw["baselines"]["mitonet"]["finetune"]
    figure_runs = grid.figure_runs(figs, exp)
    return {
        "download_dataset": {L.manifest(d) for d in datasets},
        "prepare_task": {p for d in data for p in L.prepared(d, *SPLITS) + [L.patch_index(d)]},
        "plan_task": {L.plan(d) for d in data},
        "make_table1": {L.table("table1.csv"), L.table("table1.md")},
        "pretrain_model": {p for r in runs if r.is_pretrain for p in (L.model(r.model_id), L.history(r.model_id))},
        "finetune_model": {p for r in runs if not r.is_pretrain for p in (L.model(r.model_id), L.history(r.model_id))},
        "evaluate_model": {L.metrics(r.model_id) for r in runs},
        "predict_test": {zarr_marker(L.test_prediction(r.model_id)) for r in figure_runs["fig3"] + figure_runs["fig4"]},
        "prepare_volume": {L.volume_image("fig5"), L.volume_info("fig5")},
        "predict_blocks": {L.prediction_blocks(f"fig5-{o}", j) for o in figs["fig5"]["models"] for j in range(cfg.raw["prediction"]["jobs"])},
        "assemble_prediction": {zarr_marker(L.volume_prediction(o)) for o in figs["fig5"]["models"]},
        "mesh_volume": {L.volume_mesh(o) for o in figs["fig5"]["models"]},
        "make_table2": {L.table(n) for n in ("table2.csv", "table2.md", "table2_long.csv", "table2_paper_vs_ours.csv", "source_gains.csv",
                                             "source_ranking.csv", "source_ranking.md")} | {L.figure("table2_heatmap.png")},
        "plot_fig2": {L.figure("fig2.png")}, "plot_fig3": {L.figure("fig3.png")}, "plot_fig4": {L.figure("fig4.png")},
        "plot_fig5": {L.figure("fig5.png")},
        "download_weights": {L.weights(w) for w in weights.values()},
        "prepare_raw_split": {p for t in {r.task for r in rows} for p in L.raw_split(t, "test")}
                             | {p for t in ft["tasks"] for p in L.raw_split(t, "train")},
        "segment_sam2": {p for r in rows if r.method.startswith("sam2")
                         for p in (L.baseline_metrics(r.task, r.method), L.baseline_prediction(r.task, r.method))},
        "segment_mitonet": {p for r in rows if r.method.startswith("mitonet")
                            for p in (L.baseline_metrics(r.task, r.method), L.baseline_prediction(r.task, r.method))},
        "finetune_mitonet": {p for s in ft["sets"] for t in ft["tasks"] for p in (L.mitonet_model(s, t), L.mitonet_summary(s, t))},
        "make_table3": {L.table("table3.csv"), L.table("table3.md")},
    }


def test_table3_dry_run_lists_weights_every_baseline_job_on_a_gpu_and_the_table(repo):
    res = snakemake(repo, "results/tables/table3.csv", "-n", "--cores", "8", "--resources", "gpu=1")
    assert res.returncode == 0, res.stderr + res.stdout
    out = res.stdout + res.stderr
    jobs = job_stats(out)
    assert jobs["download_weights"] == 2 and jobs["make_table3"] == 1
    # MitoNet 1/2/4x zero-shot; 2 patch sets fine-tuned once each, inferred at 1x and 2x; SAM2 M auto+boxes, ER boxes+boxes_masks
    assert jobs["segment_mitonet"] == 3 + 4 and jobs["finetune_mitonet"] == 2 and jobs["segment_sam2"] == 4
    assert jobs["prepare_raw_split"] == 3  # RatLiver-M train + test, RatLiver-ER test
    assert jobs["make_table2"] == 1  # our rows come from Table 2's best pairs
    resources = job_resources(out)
    for rule in ("segment_mitonet", "finetune_mitonet", "segment_sam2"):
        assert len(resources[rule]) == jobs[rule] and all("gpu=1" in line for line in resources[rule]), rule
    assert "resources/weights/sam2.1_hiera_small.pt" in out and "resources/weights/MitoNet_v1.pth" in out


@pytest.mark.parametrize("config", ["demo.yaml", "config.yaml", "mini.yaml"])
def test_workflow_passes_snakemake_lint(repo, config):
    res = snakemake(repo, "--lint", "--configfile", str(repo / "config" / config))
    assert res.returncode == 0 and "Congratulations" in res.stdout + res.stderr, res.stdout + res.stderr


def test_asking_for_table2_alone_skips_fig2(repo):
    res = snakemake(repo, "-n", "--cores", "1", "results/tables/table2.csv")
    assert res.returncode == 0, res.stderr + res.stdout
    jobs = job_stats(res.stdout + res.stderr)
    assert "plot_fig2" not in jobs and jobs["finetune_model"] == 111


def test_config_error_stops_before_scheduling(repo, tmp_path, tiny_raw):
    tiny_raw["experiment"]["fractions"] = [1.0, 1.5]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(tiny_raw))
    res = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad))
    assert res.returncode != 0
    assert "experiment.fractions[1]" in res.stderr + res.stdout


def test_tiny_workflow_runs_end_to_end_and_reruns_only_what_is_missing(repo, tmp_path, tiny_config_file):
    run = ("--cores", "2", "--configfile", str(tiny_config_file))
    res = snakemake(tmp_path, *run)
    assert res.returncode == 0, res.stderr[-5000:]
    results = tmp_path / "results"
    table = pd.read_csv(results / "tables" / "table2.csv", index_col=0)
    assert list(table.index) == ["NoPretrain", "SynthKidney-M"]
    assert list(table.columns) == ["SynthKidney-M", "SynthLiver-M"]
    assert table.notna().all().all()
    assert (results / "figures" / "fig2.png").stat().st_size > 10_000
    assert (results / "figures" / "table2_heatmap.png").stat().st_size > 10_000
    gains = pd.read_csv(results / "tables" / "source_gains.csv")
    assert gains[["target", "source"]].values.tolist() == [["SynthLiver-M", "SynthKidney-M"]]
    assert pd.read_csv(results / "tables" / "table1.csv").task.tolist() == ["SynthKidney-M", "SynthLiver-M"]
    assert "DEMO OUTPUT" in (results / "tables" / "table2.md").read_text()
    assert len(list((tmp_path / "logs").rglob("*.benchmark.tsv"))) >= 10
    assert not list(tmp_path.rglob("checkpoint.pt"))
    for fig in ("fig3", "fig4", "fig5"):
        assert (results / "figures" / f"{fig}.png").stat().st_size > 10_000
    assert (results / "meshes" / "mito.ply").read_bytes().startswith(b"ply")
    _blockwise_equals_one_job(tmp_path, tiny_config_file)
    report = snakemake(tmp_path, "--report", str(tmp_path / "report.html"), *run)
    assert report.returncode == 0 and (tmp_path / "report.html").stat().st_size > 100_000, report.stderr[-2000:]

    again = snakemake(tmp_path, "-n", *run)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    (results / "tables" / "table2.csv").unlink()
    redo = snakemake(tmp_path, str(results / "tables" / "table2.csv"), *run)
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert job_stats(redo.stdout + redo.stderr) == {"make_table2": 1}


def _blockwise_equals_one_job(workdir, config_file) -> None:
    """The Fig. 5 volume, predicted by prediction.jobs block jobs and assembled, equals one
    predict_to_zarr over the prepared volume with the same model, engine and block, bit for bit;
    the block jobs' partial sums (temp outputs) are gone."""
    cfg = load_config(config_file)
    spec, L = cfg.raw["prediction"], Layout.of(cfg.raw)
    assert spec["jobs"] > 1
    for organelle in cfg.raw["figures"]["fig5"]["models"]:
        run = grid.figure_runs(cfg.raw["figures"], cfg.experiment)["fig5"][list(cfg.raw["figures"]["fig5"]["models"]).index(organelle)]
        runner = make_runner(spec["engine"], load_model(workdir / L.model(run.model_id)), "cpu", cfg.patch_size, threads=1)
        image = np.load(workdir / L.volume_image("fig5"), mmap_mode="r")
        one = workdir / "one_job.zarr"
        predict_to_zarr(runner, image, one, cfg.patch_size, spec["chunk"], cfg.evaluation.overlap, cfg.evaluation.batch_size,
                        cfg.evaluation.threshold, spec["block"], progress=False)
        blockwise = open_prediction(workdir / L.volume_prediction(organelle))
        for a, b in zip(blockwise, open_prediction(one)):
            assert np.array_equal(a[...], b[...])
    assert not list((workdir / L.prediction_blocks("x", 0)).parent.parent.rglob("*.npy"))


def test_a_missing_block_job_reruns_alone(repo, tmp_path, tiny_raw):
    """Blockwise prediction: when one block job's output is missing (killed, or never run), only
    that block job and the assembly are planned, not the other blocks."""
    tiny_raw["figures"] = {"fig5": tiny_raw["figures"]["fig5"]}
    config = tmp_path / "blocks.yaml"
    config.write_text(yaml.safe_dump(tiny_raw))
    cfg, run = load_config(config), ("--cores", "2", "--configfile", str(config))
    L, key = Layout.of(cfg.raw), "fig5-mito"
    assert cfg.raw["prediction"]["jobs"] == 2
    done = snakemake(tmp_path, L.prediction_blocks(key, 0), *run)  # job 1 of 2 "was killed"
    assert done.returncode == 0, done.stderr[-3000:]
    plan = snakemake(tmp_path, "-n", zarr_marker(L.volume_prediction("mito")), *run)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_stats(plan.stdout + plan.stderr) == {"predict_blocks": 1, "assemble_prediction": 1}
    assert L.prediction_blocks(key, 1) in plan.stdout + plan.stderr


def test_task_with_folds_trains_and_scores_each_repeat_on_its_fold(repo, tmp_path, tiny_raw):
    liver = tiny_raw["tasks"]["SynthLiver-M"]
    liver["folds"] = [{"train": liver.pop("train"), "test": liver.pop("test")}, {"train": {"z": [4, 12]}, "test": {"z": [0, 4]}}]
    tiny_raw["experiment"] |= {"repeats": 2, "fractions": [1.0], "scenarios": []}
    tiny_raw.pop("figures")
    config = tmp_path / "folds.yaml"
    config.write_text(yaml.safe_dump(tiny_raw))
    results = tmp_path / "results"
    res = snakemake(tmp_path, str(results / "tables" / "table2.csv"), "--cores", "2", "--configfile", str(config))
    assert res.returncode == 0, res.stderr[-5000:]
    scored = (results / "metrics" / "finetune" / "SynthKidney-M__SynthLiver-M" / "p3").glob("rep*.json")
    by_rep = {m["rep"]: m for m in (json.loads(p.read_text()) for p in scored)}
    assert by_rep[1]["fold"] == 1 and by_rep[2]["fold"] == 2
    prepared = tmp_path / "resources" / "prepared" / "SynthLiver-M"
    assert (prepared / "fold1" / "patches.json").is_file() and (prepared / "fold2" / "patches.json").is_file()
    long = pd.read_csv(results / "tables" / "table2_long.csv")
    cell = long[(long.metric == "iou_fg") & (long.source == "SynthKidney-M") & (long.target == "SynthLiver-M")]
    assert cell["n"].tolist() == [2]  # the Table 2 cell averages both folds
