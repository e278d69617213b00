"""Reruns follow the config and the code: after a complete tiny run, each edit lists exactly the jobs it affects.

The workflow runs from a copy of the repository (Snakefile, workflow/, src/ on PYTHONPATH),
so the test can edit package modules the way a developer would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, tiny_config
from workflow_helpers import job_stats, snakemake

pytestmark = pytest.mark.workflow

TRAINING = {"pretrain_model", "finetune_model", "evaluate_model", "make_table2", "plot_fig2"}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A repository copy and a finished tiny run (no figures 3-5), with the paper's numbers as an input."""
    root = tmp_path_factory.mktemp("reruns")
    copy, repo = root / "repo", REPO
    copy.mkdir()
    shutil.copy(repo / "Snakefile", copy / "Snakefile")
    for part in ("workflow", "src", "config", "envs"):
        shutil.copytree(repo / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    raw = tiny_config(root)
    raw.pop("figures")
    raw["paper_results"] = str(copy / "config" / "paper_results.yaml")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw))
    res = _snakemake(copy, root, config)
    assert res.returncode == 0, res.stderr[-5000:]
    return copy, root, raw


def _snakemake(copy: Path, workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(copy / "src")}
    return snakemake(workdir, "--cores", "2", "--configfile", str(config), *args, snakefile=copy / "Snakefile", env=env)


def _planned(done, raw: dict | None = None) -> dict[str, int]:
    """The jobs a dry run plans (rule -> count) for ``raw`` (default: the finished run's config)."""
    copy, root, finished = done
    config = root / "edited.yaml"
    config.write_text(yaml.safe_dump(raw or finished))
    res = _snakemake(copy, root, config, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    if "Nothing to be done" in out:
        return {}
    jobs = job_stats(out)
    jobs.pop("all", None)
    return jobs


def _edited(raw: dict, path: str, value) -> dict:  # noqa: ANN001
    out = json.loads(json.dumps(raw))
    *parents, key = path.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    node[key] = value
    return out


def test_an_unchanged_config_plans_nothing(done):
    assert _planned(done) == {}


def test_a_training_setting_reruns_training_and_what_reads_it(done):
    assert set(_planned(done, _edited(done[2], "train.lr", 0.0123))) == TRAINING


def test_one_tasks_preprocessing_reruns_that_task_only(done):
    raw = _edited(done[2], "tasks.SynthLiver-M.preprocess", {"resize": "after_clahe"})
    jobs = _planned(done, raw)
    assert jobs.pop("prepare_task") == 1 and jobs.pop("plan_task") == 1  # its plan follows its prepared data
    assert "pretrain_model" not in jobs  # SynthKidney-M's data and models are untouched
    assert set(jobs) == {"finetune_model", "evaluate_model", "make_table1", "make_table2", "plot_fig2"}
    assert jobs["finetune_model"] == 2 * 3  # SynthLiver-M only: (NoPretrain, SynthKidney-M) x (p3, f1, f0.5)


def test_the_papers_numbers_rerun_only_the_tables(done):
    paper = done[0] / "config" / "paper_results.yaml"
    before, stat = paper.read_text(), paper.stat()
    try:
        paper.write_text(before + "\n# edited\n")
        assert set(_planned(done)) == {"make_table1", "make_table2"}
    finally:
        paper.write_text(before)
        os.utime(paper, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize(("module", "expected"), [
    ("report/figures.py", {"make_table2", "plot_fig2"}),  # the heatmap and Fig. 2
    ("model/loss.py", TRAINING),
])
def test_editing_package_code_reruns_the_jobs_that_run_it(done, module, expected):
    path = done[0] / "src" / "vemtransfer" / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# a comment changes nothing\n")
        assert _planned(done) == {}
        path.write_text(original + "\n_PROBE = 1\n")
        assert set(_planned(done)) == expected
    finally:
        path.write_text(original)
