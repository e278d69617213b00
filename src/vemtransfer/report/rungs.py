"""Successive halving's decisions: who trains on after each rung of the fast protocol, and why not.

After rung k every surviving candidate has a validation IoU per (fraction, repeat); averaged
over fractions repeat by repeat, each source is compared with the best one paired by repeat
(:mod:`vemtransfer.report.stats`). A source is dropped only when it is worse than the best by
more than its paired 95 % interval (the interval's upper end is below 0); NoPretrain, the
baseline every gain is measured against, is never dropped, and without an interval (fewer
than 2 repeats) nobody is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vemtransfer.config import NO_PRETRAIN
from vemtransfer.core.storage import write_json
from vemtransfer.report.stats import paired_gain, values_by_repeat


def load_rung_histories(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per run of a rung: source, budget, rep, validation IoU (%), and whether it was pruned before."""
    rows = []
    for p in paths:
        h = json.loads(Path(p).read_text())
        rows.append({k: h[k] for k in ("source", "budget", "rep")} | {"val_iou": 100 * h["best_val_iou_fg"], "pruned": h.get("pruned_at") is not None})
    return pd.DataFrame(rows, columns=["source", "budget", "rep", "val_iou", "pruned"])


def mean_over_budgets(runs: pd.DataFrame, source: str) -> dict[int, float]:
    """Per repeat, ``source``'s validation IoU averaged over its budgets (repeats missing one left out)."""
    per = [values_by_repeat(runs, {"source": source, "budget": b}, "val_iou") for b in sorted(set(runs.budget))]
    reps = set.intersection(*(set(p) for p in per)) if per else set()
    return {r: sum(p[r] for p in per) / len(per) for r in sorted(reps)}


def select_survivors(runs: pd.DataFrame, candidates: Sequence[str], rung: int, steps: int) -> dict[str, Any]:
    """{best, scores, survivors, dropped} after rung ``rung`` (``steps`` steps) among ``candidates``."""
    scores = {s: mean_over_budgets(runs, s) for s in candidates}
    means = {s: sum(v.values()) / len(v) for s, v in scores.items() if v}
    best = max(means, key=means.get) if means else None
    survivors, dropped = [], []
    for source in candidates:
        gain = paired_gain(scores[source], scores[best]) if best and source not in (best, NO_PRETRAIN) else None
        if gain is not None and gain.n >= 2 and gain.hi < 0:
            dropped.append({"source": source, "rung": rung, "steps": steps, "best": best, "gain": [gain.mean, gain.lo, gain.hi],
                            "why": f"{gain.text(' points')} vs {best} at {steps} steps (paired by repeat, 95 % interval below 0)"})
        else:
            survivors.append(source)
    return {"best": best, "scores": means, "survivors": survivors, "dropped": dropped}


def select_rung(history_paths: Iterable[str | Path], previous: str | Path | None, task: str, rung: int, steps: int,
                out: str | Path) -> dict[str, Any]:
    """Write ``rung<k>.json``: who trains after rung ``rung``, with everyone dropped so far and why."""
    runs = load_rung_histories(history_paths)
    before = json.loads(Path(previous).read_text()) if previous else None
    candidates = before["survivors"] if before else sorted(set(runs.source))
    decision = select_survivors(runs[runs.source.isin(candidates) & ~runs.pruned], candidates, rung, steps)
    record = {"task": task, "rung": rung, "steps": steps, **decision,
              "dropped": (before["dropped"] if before else []) + decision["dropped"]}
    write_json(out, record)
    return record


def rungs_markdown(rung_paths: Sequence[str | Path], final_steps: int, final_scores: dict[str, float] | None = None) -> str:
    """The fast protocol's section of ``recommendation.md``: each rung, its best candidate and who was dropped, when and why;
    ``final_scores`` (source: validation IoU averaged over fractions) make the last rung's row."""
    rows = []
    for p in rung_paths:
        r = json.loads(Path(p).read_text())
        new = [d for d in r["dropped"] if d["rung"] == r["rung"]]
        rows.append({"rung": r["rung"], "steps": r["steps"], "best": r["best"],
                     "validation IoU (%) averaged over fractions": ", ".join(f"{s} {v:.1f}" for s, v in sorted(r["scores"].items(), key=lambda x: -x[1])),
                     "dropped": "; ".join(f"{d['source']}: {d['why']}" for d in new) or "none",
                     "go on": ", ".join(r["survivors"])})
    if final_scores:
        ranked = sorted(final_scores.items(), key=lambda x: -x[1])
        rows.append({"rung": len(rows) + 1, "steps": final_steps, "best": ranked[0][0],
                     "validation IoU (%) averaged over fractions": ", ".join(f"{s} {v:.1f}" for s, v in ranked),
                     "dropped": "(last rung: ranked above)", "go on": ""})
    return ("Fast protocol (successive halving over real fine-tunes; each rung resumes the previous one, one learning-rate schedule "
            f"over {final_steps} steps). A candidate stops when it is worse than the rung's best by more than its paired 95 % interval; "
            f"NoPretrain always goes on. The gains above are those of the last rung ({final_steps} steps).\n\n"
            + pd.DataFrame(rows).to_markdown(index=False))
