"""Table 2 read two more ways: against the paper's numbers, and as "which source helps which target".

``paper_vs_ours``: every Table 2 cell with the paper's value, ours (mean, sd, n) and the
difference, so a reproduction can be judged cell by cell. ``source_gains``: for each target,
each pretraining source's gain in foreground IoU over NoPretrain at the same budget, paired
by repeat (repeat r of every source shares its seed, batches and label subset with NoPretrain's
repeat r) with a 95 % interval and a verdict, ranked; and each source's average gain over the
targets it was fine-tuned on (the paper: MouseLiver-M best on average, +28 % over random
initialisation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from vemtransfer.config import NO_PRETRAIN
from vemtransfer.report.stats import gain_over_no_pretrain, values_by_repeat, verdict
from vemtransfer.report.tables import table2_cells


def paper_vs_ours(summary: pd.DataFrame, sources: Sequence[str], targets: Sequence[str], budget: str, paper: Mapping[str, Mapping[str, float]] | None) -> pd.DataFrame:
    """One row per Table 2 cell: paper, ours_mean, ours_sd, n, ours_minus_paper (IoU %)."""
    ours = table2_cells(summary, sources, targets, budget)
    ours["paper"] = [(paper or {}).get(r, {}).get(t) for r, t in zip(ours.pretrain, ours.target)]
    ours["paper"] = ours["paper"].astype(float)
    ours["ours_minus_paper"] = ours["mean"] - ours["paper"]
    return ours.rename(columns={"mean": "ours_mean", "sd": "ours_sd"})[
        ["pretrain", "target", "paper", "ours_mean", "ours_sd", "n", "ours_minus_paper"]
    ]


def source_gains(df: pd.DataFrame, sources: Sequence[str], targets: Sequence[str], budget: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per target: sources ranked by paired gain over NoPretrain; per source: mean gain over targets).

    ``df``: one row per metrics file (:func:`~vemtransfer.report.tables.load_metrics`); gains in IoU points.
    """
    rows = []
    for col in targets:
        base = values_by_repeat(df, {"source": NO_PRETRAIN, "target": col, "budget": budget}, "iou_fg", 100)
        for row in sources:
            gain = gain_over_no_pretrain(df, row, {"target": col, "budget": budget}, "iou_fg", 100) if row != col else None
            if gain is None:
                continue
            base_mean = sum(base.values()) / len(base)
            rows.append({"target": col, "source": row, "gain": gain.mean, "gain_lo": gain.lo, "gain_hi": gain.hi, "n": gain.n,
                         "verdict": verdict(gain), "relative_gain_pct": 100 * gain.mean / base_mean if base_mean else math.nan})
    per_target = pd.DataFrame(rows, columns=["target", "source", "gain", "gain_lo", "gain_hi", "n", "verdict", "relative_gain_pct"])
    per_target = per_target.sort_values(["target", "gain"], ascending=[True, False])
    per_target["rank"] = per_target.groupby("target").cumcount() + 1
    per_source = (per_target.groupby("source")[["gain", "relative_gain_pct"]].mean()
                  .rename(columns={"gain": "mean_gain", "relative_gain_pct": "mean_relative_gain_pct"})
                  .assign(targets=per_target.groupby("source").size())
                  .sort_values("mean_gain", ascending=False).reset_index())
    return per_target.reset_index(drop=True), per_source

