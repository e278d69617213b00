"""Which pretraining source should a lab use for its volume, and how many labels does it need?

Every candidate source (and NoPretrain) is fine-tuned on the lab's task at every label
fraction; models are compared on the task's *validation* split (best validation IoU of
each run, from its ``history.json``), so the test region stays untouched for the final
number. Sources are ranked by their validation IoU averaged over fractions; the label
advice is the smallest fraction at which the best source reaches 95 % of its own
full-data validation IoU.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vemtransfer.design import Run, fraction_budget  # noqa: E402
from vemtransfer.storage import atomic_path, write_json, write_text  # noqa: E402

ENOUGH = 0.95


def load_histories(paths: Iterable[str | Path]) -> pd.DataFrame:
    rows = []
    for p in paths:
        h = json.loads(Path(p).read_text())
        rows.append({k: h[k] for k in ("source", "target", "budget", "rep")} | {"val_iou": 100 * h["best_val_iou_fg"]})
    return pd.DataFrame(rows)


def rank_sources(df: pd.DataFrame, fractions: Sequence[float]) -> pd.DataFrame:
    """One row per source: mean and sd of validation IoU (%) per fraction, overall mean, rank."""
    rows = []
    for source, g in df.groupby("source"):
        row = {"source": source}
        for f in fractions:
            v = g[g.budget == fraction_budget(f)]["val_iou"]
            row[f"{f:g}_mean"], row[f"{f:g}_sd"] = v.mean(), v.std(ddof=1) if len(v) > 1 else float("nan")
        row["mean_over_fractions"] = sum(row[f"{f:g}_mean"] for f in fractions) / len(fractions)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("mean_over_fractions", ascending=False).reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def chosen_run(df: pd.DataFrame, table: pd.DataFrame, fractions: Sequence[float]) -> Run:
    """The model to predict with: the top source's repeat with the best validation IoU at the largest fraction."""
    runs = df[(df.source == table.iloc[0]["source"]) & (df.budget == fraction_budget(max(fractions)))]
    best = runs.loc[runs["val_iou"].idxmax()]
    return Run(best.source, best.target, best.budget, int(best.rep))


def labels_needed(table: pd.DataFrame, fractions: Sequence[float]) -> float:
    """Smallest fraction at which the top source reaches ENOUGH of its largest-fraction validation IoU."""
    best = table.iloc[0]
    full = best[f"{max(fractions):g}_mean"]
    return min(f for f in fractions if best[f"{f:g}_mean"] >= ENOUGH * full)


def plot_learning_curve(table: pd.DataFrame, fractions: Sequence[float], task: str, out: str | Path, demo: bool) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs = sorted(fractions)
    for _, row in table.iterrows():
        ax.errorbar([100 * f for f in xs], [row[f"{f:g}_mean"] for f in xs], yerr=[row[f"{f:g}_sd"] for f in xs],
                    marker="o", capsize=3, label=f"{row['rank']}. {row['source']}")
    ax.set_xlabel(f"% of {task}'s training patches")
    ax.set_ylabel("validation foreground IoU (%)")
    ax.set_title(("DEMO OUTPUT - " if demo else "") + f"Learning curves on {task}", fontsize=9, color="tab:red" if demo else "black")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def build_recommendation(history_paths: Iterable[str | Path], task: str, fractions: Sequence[float], out_md: str | Path,
                         out_csv: str | Path, out_png: str | Path, out_choice: str | Path, demo: bool) -> str:
    """Write the ranking (CSV, Markdown with the advice), the learning-curve plot and the chosen
    model (JSON, read by ``prediction.zarr``); returns the Markdown."""
    histories = load_histories(history_paths)
    table = rank_sources(histories, fractions)
    choice = chosen_run(histories, table, fractions)
    write_json(out_choice, {"task": task, "source": choice.source, "budget": choice.budget, "rep": choice.rep,
                            "model_id": choice.model_id, "demo": demo})
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    plot_learning_curve(table, fractions, task, out_png, demo)
    best, need = table.iloc[0]["source"], labels_needed(table, fractions)
    md = ("> **DEMO OUTPUT** - synthetic data.\n\n" if demo else "") + (
        f"# Recommendation for {task}\n\n"
        f"**Pretrain on {best}.** It has the highest validation IoU averaged over label fractions.\n\n"
        f"**Labels:** with {best}, {100 * need:g} % of the training patches reach {100 * ENOUGH:g} % of the validation "
        f"IoU obtained with {100 * max(fractions):g} %.\n\n"
        "Validation foreground IoU (%), mean and sd over repeats (the test region is not used):\n\n"
        + table.to_markdown(index=False, floatfmt=".2f") + "\n\nLearning curves: `learning_curve.png` beside this file. "
        f"`prediction.zarr` is predicted with `{choice.model_id}` (its best repeat at {100 * max(fractions):g} %).\n"
    )
    write_text(out_md, md)
    return md
