"""`snakemake --profile profiles/slurm` on a real single-node SLURM started by the test.

The module fixture starts munge + slurmctld + slurmd (tests/cluster/slurm_up.sh: one node on
127.0.0.1 with one placeholder GPU GRES) and always stops them again. The test runs the tiny
config through the SLURM profile and checks that every job went through sbatch, that exactly
the GPU rules asked for the GPU GRES, that the outputs equal a local run's, and that a rerun
submits nothing. Skipped (with the reason) only when not root, or when SLURM is missing and
cannot be installed from the distribution.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from vemtransfer.inference.ome import open_prediction

from conftest import REPO, tiny_config
from workflow_helpers import job_stats, snakemake_cmd

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

CLUSTER = REPO / "tests" / "cluster"
GPU_RULES = {"pretrain_model", "finetune_model", "evaluate_model", "predict_test", "predict_blocks"}
CANNOT_INSTALL = 3  # slurm_up.sh's exit status when SLURM is missing and apt-get cannot install it


def _env() -> dict[str, str]:
    """The test's environment without site SLURM settings (the test cluster's files are in /etc/slurm)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("SLURM test needs root to start munged/slurmctld/slurmd (run as root, as CI does)")
    if not (shutil.which("slurmctld") and shutil.which("sbatch")) and not shutil.which("apt-get"):
        pytest.skip("SLURM binaries are missing and there is no apt-get to install them")
    state = tmp_path_factory.mktemp("slurm-state")
    try:
        up = subprocess.run(["bash", str(CLUSTER / "slurm_up.sh"), str(state)], capture_output=True, text=True,
                            timeout=600, env=_env())
        if up.returncode == CANNOT_INSTALL:
            pytest.skip(f"SLURM is missing and could not be installed: {up.stderr.strip()[-500:]}")
        assert up.returncode == 0, f"slurm_up.sh failed:\n{up.stdout}\n{up.stderr}"
        print(up.stderr.strip())
        yield state
    finally:
        down = subprocess.run(["bash", str(CLUSTER / "slurm_down.sh"), str(state)], capture_output=True, text=True,
                              timeout=120)
        print(down.stderr.strip())


def _snakemake(workdir: Path, *args: str, timeout: int = 600) -> list[str]:
    return ["timeout", "-k", "10", str(timeout), *snakemake_cmd(workdir, *args)]


def _tiny_config_file(root: Path) -> Path:
    raw = tiny_config(root)
    # Figs. 3-4 add jobs of rule types run anyway; Fig. 5 stays: its volume is predicted blockwise
    # (prediction.jobs block jobs, each gpu=1, then one assembling job)
    raw["figures"] = {k: v for k, v in raw["figures"].items() if k in ("render_px", "fig5")}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _slurm_jobs() -> dict[str, dict[str, str]]:
    """Every job slurmctld still holds (MinJobAge=3600 keeps finished ones: a run on a loaded 2-core machine took over 5 min): id -> fields."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, env=_env(), check=True)
    jobs = {}
    for line in out.stdout.splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\w[\w/:]*)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def _submitted(workdir: Path) -> dict[str, str]:
    """SLURM job id -> rule, from the executor's per-job logs .snakemake/slurm_logs/rule_<rule>/…/<jobid>.log."""
    logs = workdir / ".snakemake" / "slurm_logs"
    return {p.stem: p.relative_to(logs).parts[0].removeprefix("rule_") for p in logs.rglob("*.log")}


def _scores(results: Path) -> dict[str, dict]:
    """Per metrics file, everything except the fields that name the run's own paths/config file."""
    out = {}
    for path in sorted((results / "metrics").rglob("*.json")):
        data = json.loads(path.read_text())
        out[str(path.relative_to(results))] = {k: v for k, v in data.items() if k not in ("checkpoint", "config_hash")}
    return out


def test_slurm_profile_submits_every_job_with_the_right_gres_and_matches_a_local_run(slurm_cluster, tmp_path):
    t0 = time.monotonic()
    cluster_dir, local_dir = tmp_path / "cluster", tmp_path / "local"
    cluster_dir.mkdir()
    local_dir.mkdir()
    cluster_cfg, local_cfg = _tiny_config_file(cluster_dir), _tiny_config_file(local_dir)
    profile = ("--profile", str(REPO / "profiles" / "slurm"), "--latency-wait", "5", "--retries", "0")

    # The local reference run shares the machine with the SLURM node; run both at once.
    local = subprocess.Popen(_snakemake(local_dir, "--cores", "2", "--configfile", str(local_cfg)),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    run = subprocess.run(_snakemake(cluster_dir, *profile, "--configfile", str(cluster_cfg)),
                         capture_output=True, text=True, cwd=REPO, env=_env())
    local_out, _ = local.communicate(timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"SLURM run failed (rc {run.returncode}):\n{out[-6000:]}"
    assert local.returncode == 0, local_out[-4000:]
    t_run = time.monotonic() - t0

    # 0. The blockwise prediction of the Fig. 5 volume equals the local run's, bit for bit.
    jobs = yaml.safe_load(cluster_cfg.read_text())["prediction"]["jobs"]
    assert jobs > 1
    for organelle in yaml.safe_load(cluster_cfg.read_text())["figures"]["fig5"]["models"]:
        store = Path("results") / "predictions" / "volume" / f"{organelle}.zarr"
        for a, b in zip(open_prediction(cluster_dir / store), open_prediction(local_dir / store)):
            assert np.array_equal(a[...], b[...])

    # 1. Every job of the DAG except the target rule `all` went through sbatch.
    expected = collections.Counter(job_stats(out))
    expected.pop("all")
    assert set(expected) >= GPU_RULES - {"predict_test"} | {"prepare_task", "make_table2", "assemble_prediction"}
    assert expected["predict_blocks"] == jobs
    submitted = _submitted(cluster_dir)
    reported = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", out))
    assert reported == submitted
    assert collections.Counter(submitted.values()) == expected
    slurm = _slurm_jobs()
    assert set(submitted) <= set(slurm), f"job ids not known to slurmctld: {set(submitted) - set(slurm)}"
    for job_id, rule in submitted.items():
        job = slurm[job_id]
        assert job["JobState"] == "COMPLETED", (rule, job)
        assert job["Comment"].startswith(f"rule_{rule}"), (rule, job)

        # 2. GPU rules asked SLURM for one GPU (sbatch --gpus=1 -> TresPerJob=gres:gpu:1); others for none.
        gres = " ".join(job.get(k, "") for k in ("TresPerJob", "TresPerNode", "TresPerTask", "Gres"))
        if rule in GPU_RULES:
            assert re.search(r"gres[:/]gpu[:=]1\b", gres), (rule, job)
        else:
            assert "gpu" not in gres, (rule, job)
        # ... with the rule's threads, mem_mb and runtime (the tiny config: 1 thread, 1000 MB, 5 min).
        if rule in GPU_RULES | {"prepare_task"}:
            assert job["NumCPUs"] == "1" and job["MinMemoryNode"] == "1000M" and job["TimeLimit"] == "00:05:00", job

    # 3. Same outputs as the local run: the tables byte for byte, every metric value.
    cluster_res, local_res = cluster_dir / "results", local_dir / "results"
    tables = sorted(p.relative_to(local_res) for p in (local_res / "tables").iterdir())
    assert tables and tables == sorted(p.relative_to(cluster_res) for p in (cluster_res / "tables").iterdir())
    for rel in tables:
        assert (cluster_res / rel).read_bytes() == (local_res / rel).read_bytes(), rel
    assert _scores(cluster_res) == _scores(local_res)

    # 4. A second invocation submits nothing.
    n_jobs = len(_slurm_jobs())
    again = subprocess.run(_snakemake(cluster_dir, *profile, "--configfile", str(cluster_cfg), timeout=300),
                           capture_output=True, text=True, cwd=REPO, env=_env())
    again_out = again.stdout + again.stderr
    assert again.returncode == 0 and "Nothing to be done" in again_out, again_out[-3000:]
    assert "submitted with SLURM" not in again_out and len(_slurm_jobs()) == n_jobs

    print(f"\nSLURM run of {sum(expected.values())} jobs + local run: {t_run:.0f} s; "
          f"whole test: {time.monotonic() - t0:.0f} s")
