"""Workflow overhead: wall time of a Snakemake dry run of the full paper config.

Why: every ``snakemake`` invocation (status checks, resumed runs, the report) pays for
parsing the Snakefile, validating the config and building the DAG of the whole grid before
any job starts; this shows what that costs against just starting the interpreters. The dry
run reads no data and needs no network, so it is safe anywhere. Baselines measured in the
same run: ``python -c "import snakemake"`` (interpreter start) and
``python -m snakemake --version`` (Snakemake's CLI start without a workflow).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import machine, table

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], repeats: int, cwd: Path) -> tuple[float, str]:
    """Median wall time of ``cmd`` over ``repeats`` runs, and the last run's output."""
    times, out = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        out = done.stdout + done.stderr
    return sorted(times)[len(times) // 2], out


def job_count(dry_run_output: str) -> int | None:
    """The ``total`` of Snakemake's job-stats table, i.e. how many jobs the DAG holds."""
    found = re.findall(r"^total\s+(\d+)\s*$", dry_run_output, flags=re.M)
    return int(found[-1]) if found else None


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="runs per command; the median is reported")
    p.add_argument("--configfile", default=None, help="another config instead of the Snakefile's default (the paper's)")
    p.add_argument("--smoke", action="store_true", help="one run of each command (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    return args


def main(argv: Sequence[str] | None = None) -> list[list[object]]:
    args = parse(argv)
    py = sys.executable
    dry = [py, "-m", "snakemake", "-n", "--cores", "8", "--resources", "gpu=1"]
    if args.configfile:
        dry += ["--configfile", args.configfile]
    import_s, _ = timed([py, "-c", "import snakemake"], args.repeats, REPO)
    version_s, _ = timed([py, "-m", "snakemake", "--version"], args.repeats, REPO)
    dry_s, out = timed(dry, args.repeats, REPO)
    jobs = job_count(out)
    config = args.configfile or "config/config.yaml (paper)"
    print(f"# workflow overhead on {machine()}; median of {args.repeats} runs, cwd = repo root")
    rows: list[list[object]] = [
        ['python -c "import snakemake"', import_s, 1.0, "-"],
        ["python -m snakemake --version", version_s, version_s / import_s, "-"],
        [f"snakemake -n --cores 8 --resources gpu=1 [{config}]", dry_s, dry_s / import_s, jobs if jobs is not None else "?"],
    ]
    print(table(["command", "median s", "ratio vs import snakemake", "jobs in DAG"], rows))
    print(f"# dry run / snakemake --version: {dry_s / version_s:.2f}")
    return rows


if __name__ == "__main__":
    main()
