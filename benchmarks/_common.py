"""Helpers shared by the benchmarks: naming the machine, timing, and printing tables.

Every figure is printed next to the machine that produced it, because a patches/s number
without its CPU/GPU is meaningless and must never be mistaken for a GPU figure.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine(device: torch.device | None = None) -> str:
    """One line naming where the numbers come from: device, CPU, cores, torch."""
    dev = device or torch.device("cpu")
    if dev.type == "cuda":
        what = f"GPU {torch.cuda.get_device_name(dev)}"
    else:
        what = f"CPU only ({torch.get_num_threads()} torch threads)"
    return f"{what}; host {cpu_model()}, nproc={os.cpu_count()}; torch {torch.__version__}"


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: VmHWM of /proc/self/status on Linux.

    Not ``ru_maxrss``: a child started by ``subprocess`` (vfork + exec) inherits its parent's
    high-water mark there, so a large parent would inflate every child's figure.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so a wall-clock reading covers it (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-markdown table, so output can be pasted into benchmarks/README.md as is."""
    cells = [[str(c) for c in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def run_child(module: str, args: Sequence[str], what: str) -> dict[str, float]:
    """``python -m module --child ...`` in a fresh interpreter (so one case's allocations cannot
    inflate another's peak); its last stdout line is the JSON result."""
    done = subprocess.run([sys.executable, "-m", module, "--child", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def csv(values: Sequence[int]) -> str:
    """``(6, 48, 48)`` -> ``6,48,48``: the inverse of :func:`ints`, for child command lines."""
    return ",".join(map(str, values))


def ints(text: str) -> tuple[int, ...]:
    """argparse type for comma-separated integers such as ``6,48,48``."""
    return tuple(int(v) for v in text.split(","))
