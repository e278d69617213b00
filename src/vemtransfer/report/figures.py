"""Fig. 2: baseline vs transfer across fractions of the target's training data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vemtransfer.config import NO_PRETRAIN, Scenario  # noqa: E402
from vemtransfer.design import fraction_budget  # noqa: E402
from vemtransfer.report.tables import load_metrics  # noqa: E402
from vemtransfer.storage import atomic_path  # noqa: E402


def plot_fig2(metric_paths: Iterable[str | Path], scenarios: Sequence[Scenario], fractions: Sequence[float], out_path: str | Path, demo: bool, metric: str = "iou_fg") -> None:
    """One panel per scenario: mean ± sd IoU (%) of baseline and transfer, repeats as dots."""
    df = load_metrics(metric_paths)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.8), squeeze=False, sharey=True)
    xs = sorted(fractions, reverse=True)
    for ax, sc in zip(axes[0], scenarios):
        for source, label, colour in ((NO_PRETRAIN, "Baseline (random init)", "tab:gray"), (sc.source, f"Transfer from {sc.source}", "tab:red")):
            means, sds = [], []
            for f in xs:
                v = 100 * df[(df.source == source) & (df.target == sc.target) & (df.budget == fraction_budget(f))][metric].astype(float)
                means.append(v.mean())
                sds.append(v.std(ddof=1) if len(v) > 1 else 0.0)
                ax.scatter([100 * f] * len(v), v, color=colour, s=10, alpha=0.5)
            ax.errorbar([100 * f for f in xs], means, yerr=sds, color=colour, marker="o", capsize=3, label=label)
        ax.set_title(f"{sc.title}\n{sc.source} → {sc.target}", fontsize=9)
        ax.set_xlabel("% of target training data")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0][0].set_ylabel("foreground IoU (%)" if metric == "iou_fg" else f"{metric} (%)")
    if demo:
        fig.suptitle("DEMO OUTPUT - synthetic data, not the paper's results", color="tab:red", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
