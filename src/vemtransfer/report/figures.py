"""Figures that are pure functions of metric files: Fig. 2 and the Table 2 heatmap."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vemtransfer.config import NO_PRETRAIN, Scenario  # noqa: E402
from vemtransfer.config.grid import fraction_budget  # noqa: E402
from vemtransfer.core.storage import atomic_path  # noqa: E402
from vemtransfer.report.stats import paired_gain, t_interval  # noqa: E402
from vemtransfer.report.tables import load_metrics  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd


def _by_rep(df: pd.DataFrame, source: str, target: str, fraction: float, metric: str) -> dict[int, float]:
    hit = df[(df.source == source) & (df.target == target) & (df.budget == fraction_budget(fraction))]
    return {int(r): 100 * float(v) for r, v in zip(hit.rep, hit[metric])}


def plot_fig2(metric_paths: Iterable[str | Path], scenarios: Sequence[Scenario], fractions: Sequence[float], out_path: str | Path, demo: bool, metric: str = "iou_fg") -> None:
    """One panel per scenario: mean IoU (%) of baseline and transfer with 95 % intervals, repeats as
    dots, and at each fraction the transfer's gain over the baseline, paired by repeat, with its interval."""
    df = load_metrics(metric_paths)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 4.1), squeeze=False, sharey=True)
    xs = sorted(fractions, reverse=True)
    for ax, sc in zip(axes[0], scenarios):
        runs = {}
        for source, label, colour in ((NO_PRETRAIN, "Baseline (random init)", "tab:gray"), (sc.source, f"Transfer from {sc.source}", "tab:red")):
            runs[source] = [_by_rep(df, source, sc.target, f, metric) for f in xs]
            ivs = [t_interval(list(v.values())) for v in runs[source]]
            for f, v in zip(xs, runs[source]):
                ax.scatter([100 * f] * len(v), list(v.values()), color=colour, s=10, alpha=0.5)
            ax.errorbar([100 * f for f in xs], [iv.mean for iv in ivs], yerr=[0 if iv.n < 2 else iv.half for iv in ivs],
                        color=colour, marker="o", capsize=3, label=label)
        gains = [(f, paired_gain(t, b)) for f, t, b in zip(xs, runs[sc.source], runs[NO_PRETRAIN])]
        text = "gain, paired (95 % CI):\n" + "\n".join(f"{100 * f:g} %: {g.text()}" + (" *" if g.excludes_zero() else "") for f, g in gains)
        ax.text(0.98, 0.02, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=6, family="monospace",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
        ax.set_ylim(0, 100)  # IoU: interval ends outside [0, 100] are cut
        ax.set_title(f"{sc.title}\n{sc.source} → {sc.target}", fontsize=9)
        ax.set_xlabel("% of target training data")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel(("foreground IoU (%)" if metric == "iou_fg" else f"{metric} (%)") + ", mean and 95 % CI")
    fig.text(0.01, 0.005, "Box: transfer minus baseline (IoU points) at each fraction, paired by repeat, with its 95 % "
             "interval; * the interval excludes 0.", fontsize=6, color="0.3")
    if demo:
        fig.suptitle("DEMO OUTPUT - synthetic data, not the paper's results", color="tab:red", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_table2_heatmap(matrix: pd.DataFrame, out_path: str | Path, title: str, demo: bool) -> None:
    """Heatmap of Table 2 means (rows pretrain, columns target), each cell annotated."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(1.3 * matrix.shape[1] + 2.5, 0.6 * matrix.shape[0] + 1.8))
    values = matrix.to_numpy(dtype=float)
    im = ax.imshow(values, cmap="viridis", vmin=np.nanmin(values) if np.isfinite(values).any() else 0, vmax=np.nanmax(values) if np.isfinite(values).any() else 100)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=8)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="white" if v < np.nanmean(values) else "black")
    fig.colorbar(im, ax=ax, label="foreground IoU (%)")
    ax.set_xlabel("fine-tuning target")
    ax.set_ylabel("pretraining task")
    ax.set_title(("DEMO OUTPUT - " if demo else "") + title, fontsize=9, color="tab:red" if demo else "black")
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
