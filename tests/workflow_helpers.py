"""Running Snakemake in tests, and reading its own output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def job_stats(out: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run or dry run: rule -> number of jobs."""
    lines = out.splitlines()
    start = lines.index("Job stats:") + 3
    counts = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def job_resources(out: str) -> dict[str, list[str]]:
    """rule -> the 'resources:' line of each of its jobs in a (dry) run's output."""
    found: dict[str, list[str]] = {}
    rule = None
    for line in out.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("resources:"):
            found.setdefault(rule, []).append(line.strip())
    return found


def job_outputs(out: str) -> dict[str, set[str]]:
    """rule -> every output path of its jobs in a (dry) run's output."""
    found: dict[str, set[str]] = {}
    rule = None
    for line in out.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("output:"):
            found.setdefault(rule, set()).update(p.strip() for p in line.split(":", 1)[1].split(","))
    return found


def snakemake(workdir: Path, *args: str, snakefile: Path | None = None, timeout: int = 900,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The one way tests run Snakemake: this Python's ``-m snakemake`` on the repository's Snakefile
    (or ``snakefile``) in ``workdir``, output captured, never raising on failure (tests assert on it)."""
    cmd = snakemake_cmd(workdir, *args, snakefile=snakefile)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def snakemake_cmd(workdir: Path, *args: str, snakefile: Path | None = None) -> list[str]:
    """The command line of :func:`snakemake`, for tests that start it themselves (in the background, under ``timeout``)."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile or REPO / "Snakefile"), "--directory", str(workdir), *args]
