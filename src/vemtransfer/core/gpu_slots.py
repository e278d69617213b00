"""One GPU per job: a slot per visible device, claimed atomically, released when the job ends.

``snakemake --resources gpu=N`` only counts: it lets N jobs that ask ``gpu=1`` run at once but
does not say which GPU each should use, so without this every job lands on ``cuda:0``. Here a
job takes the first free device by holding an exclusive ``flock`` on that device's lock file
(``<lock dir>/gpu-<id>.lock``). The kernel drops the lock when the process exits, however it
exits (a crash or ``kill -9`` included), so a slot is never leaked and no clean-up is needed.

Lock files are named after the *physical* device: the ``CUDA_VISIBLE_DEVICES`` entry (an index
or a ``GPU-<uuid>``) of each visible device, so jobs that see the devices in different orders,
or a SLURM job that was given one device, still agree on who holds what. When every slot is
taken (more concurrent GPU jobs than GPUs: ``--resources gpu`` larger than the machine has),
a job waits ``wait_s`` and then shares the device its process id picks, with a warning,
rather than failing.

``VEMTRANSFER_FAKE_GPUS=N`` pretends N devices are visible (tests on CPU-only machines);
``VEMTRANSFER_GPU_LOCK_DIR`` moves the lock files (default ``$XDG_RUNTIME_DIR/vemtransfer-gpu-slots``
or ``/tmp/vemtransfer-gpu-slots-<uid>``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

_held: dict[str, IO[bytes]] = {}
"""Open lock files of the slots this process holds (kept open: closing would release them)."""
_claimed: int | None = None


def lock_dir() -> Path:
    """Where the slots' lock files live (shared by every job of this user on this machine)."""
    if os.environ.get("VEMTRANSFER_GPU_LOCK_DIR"):
        return Path(os.environ["VEMTRANSFER_GPU_LOCK_DIR"])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return Path(runtime) / "vemtransfer-gpu-slots"
    return Path(f"/tmp/vemtransfer-gpu-slots-{os.getuid()}")


def visible_ids(count: int) -> list[str]:
    """Physical ids of the ``count`` devices this process sees, in CUDA's order: the entries of
    ``CUDA_VISIBLE_DEVICES`` when it is set, else ``0 .. count-1``."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and env.strip():
        entries = [e.strip() for e in env.split(",") if e.strip()]
        return entries[:count] + [f"{env}#{i}" for i in range(len(entries), count)]
    return [str(i) for i in range(count)]


def _try_lock(path: Path) -> IO[bytes] | None:
    handle = open(path, "a+b")  # noqa: SIM115 - must stay open while the slot is held
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle


def claim(count: int, ids: list[str] | None = None, wait_s: float = 10.0, directory: Path | None = None) -> int:
    """Index (in this process's device order) of a free device slot, now held until the process
    exits; the same index on every later call. ``count`` devices are visible."""
    global _claimed
    if _claimed is not None:
        return _claimed
    if count < 1:
        raise ValueError("no GPU is visible")
    ids = ids or visible_ids(count)
    folder = directory or lock_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + wait_s
    while True:
        for index, dev in enumerate(ids):
            handle = _try_lock(folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', dev)}.lock")
            if handle is not None:
                _held[dev], _claimed = handle, index
                log.info("GPU slot: device %d (physical %s) of %d, lock in %s", index, dev, count, folder)
                return index
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    _claimed = os.getpid() % count
    log.warning("all %d GPU slots in %s are held (more GPU jobs than GPUs: lower --resources gpu); sharing device %d",
                count, folder, _claimed)
    return _claimed


def release() -> None:
    """Give the slot back before the process ends (tests; a job never needs to)."""
    global _claimed
    for handle in _held.values():
        handle.close()
    _held.clear()
    _claimed = None


def device_count() -> int:
    """Visible CUDA devices (``VEMTRANSFER_FAKE_GPUS`` overrides, for tests)."""
    fake = os.environ.get("VEMTRANSFER_FAKE_GPUS")
    if fake:
        return int(fake)
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
