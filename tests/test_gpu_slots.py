"""GPU slots: concurrent gpu=1 jobs on a (faked) multi-GPU machine each get a device of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vemtransfer.core import gpu_slots

SRC = str(Path(__file__).resolve().parents[1] / "src")

# A "job": fakes a CUDA machine, picks its device the way every job does, prints it, then
# holds it until the file named by argv[1] exists.
JOB = textwrap.dedent("""
    import sys, time, pathlib, torch
    torch.cuda.is_available = lambda: True
    torch.cuda.set_device = lambda index: None
    from vemtransfer.core.device import pick_device
    print(pick_device(), flush=True)
    while not pathlib.Path(sys.argv[1]).exists():
        time.sleep(0.05)
""")


def _env(tmp_path: Path, gpus: int, visible: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": SRC, "VEMTRANSFER_FAKE_GPUS": str(gpus), "VEMTRANSFER_GPU_LOCK_DIR": str(tmp_path / "locks")}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    return env


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", JOB, str(tmp_path / "stop")], env=env, stdout=subprocess.PIPE, text=True)


def test_two_concurrent_gpu_jobs_on_a_two_gpu_machine_get_different_devices(tmp_path):
    jobs = [_start(tmp_path, _env(tmp_path, 2)) for _ in range(2)]
    try:
        devices = sorted(job.stdout.readline().strip() for job in jobs)  # both hold their slot now
    finally:
        (tmp_path / "stop").touch()
        for job in jobs:
            job.wait(60)
    assert devices == ["cuda:0", "cuda:1"]
    assert all(job.returncode == 0 for job in jobs)


def test_a_crashed_job_frees_its_slot(tmp_path):
    first = _start(tmp_path, _env(tmp_path, 2))
    assert first.stdout.readline().strip() == "cuda:0"
    first.kill()  # SIGKILL: no clean-up code runs; the kernel drops the flock
    first.wait(60)
    second = _start(tmp_path, _env(tmp_path, 2))
    try:
        assert second.stdout.readline().strip() == "cuda:0"
    finally:
        (tmp_path / "stop").touch()
        second.wait(60)


def test_slots_follow_the_physical_devices_of_cuda_visible_devices(tmp_path):
    # One job sees physical GPUs 3 and 5 and takes 3 (its cuda:0); a job shown GPUs 3 and 7
    # must skip physical 3 although it is its cuda:0 too.
    holder = _start(tmp_path, _env(tmp_path, 2, "3,5"))
    other = None
    try:
        assert holder.stdout.readline().strip() == "cuda:0"
        assert (tmp_path / "locks" / "gpu-3.lock").exists()
        other = _start(tmp_path, _env(tmp_path, 2, "3,7"))
        assert other.stdout.readline().strip() == "cuda:1"
    finally:
        (tmp_path / "stop").touch()
        holder.wait(60)
        if other is not None:
            other.wait(60)


def test_in_process_claim_is_stable_and_shares_when_every_slot_is_held(tmp_path, monkeypatch):
    monkeypatch.setenv("VEMTRANSFER_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpu_slots.release()
    blocker = _start(tmp_path, _env(tmp_path, 1))
    try:
        assert blocker.stdout.readline().strip() == "cuda:0"
        started = time.monotonic()
        assert gpu_slots.claim(1, wait_s=0.3) == 0  # every slot held: waits, then shares
        assert time.monotonic() - started >= 0.3
    finally:
        gpu_slots.release()
        (tmp_path / "stop").touch()
        blocker.wait(60)
    assert gpu_slots.claim(2) == gpu_slots.claim(2) == 0
    gpu_slots.release()


@pytest.mark.parametrize("visible, ids", [("", ["0", "1"]), ("2,GPU-ab", ["2", "GPU-ab"])])
def test_visible_ids(monkeypatch, visible, ids):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_slots.visible_ids(2) == ids
