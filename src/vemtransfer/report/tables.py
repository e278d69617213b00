"""Table 2 from per-model metric files: mean, sd and 95 % CI over repeats.

Cells are IoU in percent, like the paper. The diagonal (source == target) is the pretrained
model on its own test split, i.e. the 100 %-data upper bound the paper shades grey.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from scipy import stats

from vemtransfer.config import NO_PRETRAIN
from vemtransfer.config.grid import PRETRAIN_BUDGET

METRICS = {"iou_fg": "foreground IoU", "iou_mean": "mean of foreground and background IoU (the authors' number)"}
DEMO_BANNER = "> **DEMO OUTPUT** - synthetic volumes from `vemtransfer.data.synthetic`, not the paper's data; the numbers say nothing about real EM.\n"


def load_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per metrics JSON: identity columns plus every score."""
    rows = []
    for p in paths:
        blob = json.loads(Path(p).read_text())
        rows.append({k: blob[k] for k in ("source", "target", "budget", "rep")} | blob["scores"])
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, sd, n and half-width of the 95 % t-interval per (source, target, budget), in %."""
    def agg(x: pd.Series) -> pd.Series:
        v = 100 * x.astype(float)
        n, sd = len(v), v.std(ddof=1) if len(v) > 1 else math.nan
        ci = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
        return pd.Series({"mean": v.mean(), "sd": sd, "n": n, "ci95": ci})

    out = df.groupby(["source", "target", "budget"])[metric].apply(agg).unstack()
    out["n"] = out["n"].astype(int)
    return out.reset_index()


def table2_cells(summary: pd.DataFrame, sources: Sequence[str], targets: Sequence[str], budget: str) -> pd.DataFrame:
    """Table 2's cells as rows (pretrain, target, mean, sd, n); the diagonal is the pretrained model."""
    rows = []
    for row in (NO_PRETRAIN, *sources):
        for col in targets:
            src, b = (col, PRETRAIN_BUDGET) if row == col else (row, budget)
            hit = summary[(summary.source == src) & (summary.target == col) & (summary.budget == b)]
            if len(hit):
                rows.append({"pretrain": row, "target": col, **hit.iloc[0][["mean", "sd", "n"]].to_dict()})
    return pd.DataFrame(rows, columns=["pretrain", "target", "mean", "sd", "n"])


def table2(cells: pd.DataFrame, sources: Sequence[str], targets: Sequence[str]) -> pd.DataFrame:
    """Matrix of "mean ± sd" strings (rows NoPretrain + sources, columns targets) from :func:`table2_cells`."""
    text = [f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}" for m, s, n in zip(cells["mean"], cells["sd"], cells["n"])]
    table = (cells.assign(cell=text).pivot(index="pretrain", columns="target", values="cell")
             .reindex(index=[NO_PRETRAIN, *sources], columns=list(targets)).fillna(""))
    table.index.name, table.columns.name = "pretrain", None
    return table


def best_per_column(cells: pd.DataFrame) -> dict[str, str]:
    """For each target, the row with the highest mean at the fine-tuning budget (diagonal excluded, as in the paper)."""
    off = cells[cells.pretrain != cells.target]
    return {t: g.loc[g["mean"].idxmax(), "pretrain"] for t, g in off.groupby("target")}


def to_markdown(table: pd.DataFrame, best: dict[str, str], title: str, note: str) -> str:
    """A Markdown table with the best off-diagonal cell per column in bold."""
    cols = list(table.columns)
    lines = [f"### {title}", "", f"| pretrain \\ target | {' | '.join(cols)} |", "|---" * (len(cols) + 1) + "|"]
    for row, cells in table.iterrows():
        shown = [f"**{cells[c]}**" if best.get(c) == row and cells[c] else (f"*{cells[c]}*" if row == c else cells[c]) for c in cols]
        lines.append(f"| {row} | {' | '.join(shown)} |")
    return "\n".join(lines + ["", note, ""])


def table2_outputs(df: pd.DataFrame, sources: Sequence[str], targets: Sequence[str], budget: str, demo: bool) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """(foreground-IoU matrix, Markdown of both IoU matrices, long table of every statistic) of loaded metrics."""
    parts, longs, fg_table = [DEMO_BANNER] if demo else [], [], None
    note = (f"IoU in %, mean ± sd over repeats. Off-diagonal cells: fine-tuned on {budget}; "
            "diagonal (italic): the pretrained model, trained on 100 % of that task's data. Bold: best per column.")
    for metric, name in METRICS.items():
        summary = summarise(df, metric)
        cells = table2_cells(summary, sources, targets, budget)
        table = table2(cells, sources, targets)
        fg_table = table if fg_table is None else fg_table
        parts.append(to_markdown(table, best_per_column(cells), f"Table 2 - {name}", note))
        longs.append(summary.assign(metric=metric))
    return fg_table, "\n".join(parts), pd.concat(longs, ignore_index=True)
