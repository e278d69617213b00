"""Reading Snakemake's own output in workflow tests."""

from __future__ import annotations


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
