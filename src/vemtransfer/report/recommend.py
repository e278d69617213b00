"""Which pretraining source should a lab use for its volume, and how many labels does it need?

Every candidate source (and NoPretrain) is fine-tuned on the lab's task at every label
fraction and repeat; models are compared on the task's *validation* split (best validation
IoU of each run, from its ``history.json``), so the test region stays untouched for the
final number. Sources are ranked by their validation IoU averaged over fractions.

The advice says how sure it is. A source's gain over NoPretrain is paired repeat by repeat
(same seed, batches and label subset; :mod:`vemtransfer.report.stats`) with a 95 %
interval; an interval that includes 0 is reported as "not distinguishable from no
pretraining". "Labels needed" (where the chosen source's fitted learning curve reaches 95 %
of its largest-fraction IoU) and the expected gain of labelling 2x more come from
:mod:`vemtransfer.report.learning_curve`, with bootstrap intervals, and only when the curve is
resolved; otherwise the report says why not (too few fractions or repeats, flat or
non-monotone data, an interval too wide) and what may distort the curve (budgets in epochs
rather than steps, models still improving when the budget ended).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vemtransfer.config import NO_PRETRAIN  # noqa: E402
from vemtransfer.config.grid import Run, fraction_budget  # noqa: E402
from vemtransfer.core.storage import atomic_path, write_json, write_text  # noqa: E402
from vemtransfer.report.learning_curve import ENOUGH, CurveFit, fit_learning_curve  # noqa: E402
from vemtransfer.report.rungs import rungs_markdown  # noqa: E402
from vemtransfer.report.stats import Interval, gain_over_no_pretrain, paired_gain, t_interval, values_by_repeat, verdict  # noqa: E402

STILL_IMPROVING = 0.5
"""Share of runs whose best validation came at their last step above which the budget is called saturating."""


def load_histories(paths: Iterable[str | Path]) -> pd.DataFrame:
    rows = []
    for p in paths:
        h = json.loads(Path(p).read_text())
        if h.get("pruned_at") is not None:  # dropped by the fast protocol: shown in its rung section, not ranked
            continue
        rows.append({k: h[k] for k in ("source", "target", "budget", "rep")} | {
            "val_iou": 100 * h["best_val_iou_fg"], "steps": h["steps_planned"], "best_step": h["best_step"], "steps_done": h["steps_done"]})
    return pd.DataFrame(rows)


def _values(df: pd.DataFrame, source: str, fraction: float) -> dict[int, float]:
    """Validation IoU by repeat of one source at one fraction."""
    return values_by_repeat(df, {"source": source, "budget": fraction_budget(fraction)}, "val_iou")


def _mean_over_fractions(df: pd.DataFrame, source: str, fractions: Sequence[float]) -> dict[int, float]:
    """Per repeat, the validation IoU averaged over fractions (repeats missing a fraction left out)."""
    per = [_values(df, source, f) for f in fractions]
    reps = set.intersection(*(set(p) for p in per))
    return {r: sum(p[r] for p in per) / len(per) for r in sorted(reps)}


def rank_sources(df: pd.DataFrame, fractions: Sequence[float]) -> pd.DataFrame:
    """One row per source: mean, sd and 95 % interval of validation IoU (%) per fraction, the mean over
    fractions, and the paired gain over NoPretrain (mean and interval) with its verdict; ranked."""
    base = _mean_over_fractions(df, NO_PRETRAIN, fractions) if NO_PRETRAIN in set(df.source) else {}
    rows = []
    for source in sorted(set(df.source)):
        row: dict[str, object] = {"source": source}
        for f in fractions:
            iv = t_interval(list(_values(df, source, f).values()))
            row[f"{f:g}_mean"], row[f"{f:g}_sd"], row[f"{f:g}_ci95"] = iv.mean, iv.sd, iv.half
            at = gain_over_no_pretrain(df, source, {"budget": fraction_budget(f)}, "val_iou") if source != NO_PRETRAIN else None
            row[f"{f:g}_gain"], row[f"{f:g}_gain_lo"], row[f"{f:g}_gain_hi"] = (at.mean, at.lo, at.hi) if at else (math.nan,) * 3
        overall = _mean_over_fractions(df, source, fractions)
        row["mean_over_fractions"] = sum(overall.values()) / len(overall) if overall else math.nan
        gain = paired_gain(overall, base) if source != NO_PRETRAIN and base else None
        row["gain"], row["gain_lo"], row["gain_hi"] = (gain.mean, gain.lo, gain.hi) if gain else (math.nan,) * 3
        row["repeats"] = len(overall)
        row["verdict"] = verdict(gain) if gain else ("the baseline" if source == NO_PRETRAIN else "no NoPretrain runs to compare with")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("mean_over_fractions", ascending=False).reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def chosen_run(df: pd.DataFrame, table: pd.DataFrame, fractions: Sequence[float]) -> Run:
    """The model to predict with: the top source's repeat with the best validation IoU at the largest fraction."""
    runs = df[(df.source == table.iloc[0]["source"]) & (df.budget == fraction_budget(max(fractions)))]
    best = runs.loc[runs["val_iou"].idxmax()]
    return Run(best.source, best.target, best.budget, int(best.rep))


def repeat_noise(df: pd.DataFrame) -> float:
    """Typical repeat-to-repeat sd of validation IoU (points): the root mean of the per-(source, fraction) variances."""
    var = df.groupby(["source", "budget"])["val_iou"].var(ddof=1).dropna()
    return math.sqrt(var.mean()) if len(var) else math.nan


def learning_curves(df: pd.DataFrame, fractions: Sequence[float]) -> dict[str, CurveFit]:
    """Per source, the learning curve fitted to its validation IoU by repeat at each fraction."""
    return {source: fit_learning_curve({f: _values(df, source, f) for f in fractions}) for source in sorted(set(df.source))}


def _caveats(df: pd.DataFrame, source: str) -> list[str]:
    """What besides the labels shapes ``source``'s curve: fractions trained for different step counts, or cut short."""
    runs = df[df.source == source]
    reasons = []
    if runs.groupby("budget")["steps"].first().nunique() > 1:
        reasons.append("the fractions trained for different numbers of steps (epoch-based budgets), so the curve also measures training length")
    late = (runs.best_step == runs.steps_done).mean()
    if late > STILL_IMPROVING:
        reasons.append(f"{100 * late:.0f} % of the runs were still improving at their last step (budget saturation: longer training may change the curve)")
    return reasons


def labels_advice(df: pd.DataFrame, table: pd.DataFrame, fractions: Sequence[float],
                  fits: dict[str, CurveFit] | None = None) -> tuple[float | None, str]:
    """(labels needed as a fraction of the patches, or None when the fit does not resolve it; the sentence saying it or why not),
    for the top source of ``table``."""
    source = table.iloc[0]["source"]
    fit = (fits or {}).get(source) or fit_learning_curve({f: _values(df, source, f) for f in fractions})
    caveats = _caveats(df, source)
    text = fit.sentence(source)
    if caveats:
        text += (" Caveat: " if fit.resolved else " Besides: ") + "; ".join(caveats) + "."
    return (fit.needed.value if fit.resolved else None), text


def curves_table(fits: dict[str, CurveFit], order: Sequence[str]) -> pd.DataFrame:
    """One row per source (in ``order``, the ranking's): labels needed and the 2x gain with intervals, or why the fit is not resolved."""
    rows = []
    for source in order:
        fit = fits[source]
        resolved = fit.resolved
        rows.append({"source": source,
                     "labels needed (% of patches)": (f"{100 * fit.needed.value:.0f} [{100 * fit.needed.lo:.0f}, {100 * fit.needed.hi:.0f}]"
                                                      if resolved else "not resolved"),
                     "2x labels gain (points)": (f"{fit.gain_2x.value:+.1f} [{fit.gain_2x.lo:+.1f}, {fit.gain_2x.hi:+.1f}]"
                                                 if resolved else "not resolved"),
                     "why not resolved": "" if resolved else fit.reasons[0].split(":")[0].split(" (")[0]})
    return pd.DataFrame(rows)


def plot_learning_curve(table: pd.DataFrame, fractions: Sequence[float], task: str, out: str | Path, demo: bool,
                        fits: dict[str, CurveFit] | None = None) -> None:
    """Means with 95 % intervals per source and fraction; dashed, each resolved fitted curve (to 2x the largest fraction)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs = sorted(fractions)
    for _, row in table.iterrows():
        bars = ax.errorbar([100 * f for f in xs], [row[f"{f:g}_mean"] for f in xs], yerr=[row[f"{f:g}_ci95"] for f in xs],
                           marker="o", capsize=3, label=f"{row['rank']}. {row['source']}")
        fit = (fits or {}).get(row["source"])
        if fit is not None and fit.resolved:
            grid = np.geomspace(min(xs), 2 * max(xs), 50)
            ax.plot(100 * grid, fit.predict(grid), "--", color=bars[0].get_color(), linewidth=1)
    ax.set_xlabel(f"% of {task}'s training patches")
    ax.set_ylabel("validation foreground IoU (%), mean and 95 % CI")
    ax.set_ylim(0, 100)
    ax.set_title(("DEMO OUTPUT - " if demo else "") + f"Learning curves on {task}", fontsize=9, color="tab:red" if demo else "black")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def gains_by_fraction(table: pd.DataFrame, fractions: Sequence[float]) -> pd.DataFrame:
    """Per source (NoPretrain left out) and fraction: the paired gain as ``+x.x [lo, hi]``, * where it excludes 0."""
    rows = []
    for _, row in table[table.source != NO_PRETRAIN].iterrows():
        cells = {"source": row["source"]}
        for f in sorted(fractions, reverse=True):
            gain = Interval(row[f"{f:g}_gain"], math.nan, int(row["repeats"]), row[f"{f:g}_gain_lo"], row[f"{f:g}_gain_hi"])
            cells[f"{100 * f:g} % of the labels"] = gain.text() + (" *" if gain.excludes_zero() else "")
        rows.append(cells)
    return pd.DataFrame(rows)


def _low_label_sentence(table: pd.DataFrame, fractions: Sequence[float]) -> str:
    """What the smallest label fraction says: which sources beat (or lose to) NoPretrain there."""
    f = min(fractions)
    words = []
    for _, row in table[table.source != NO_PRETRAIN].iterrows():
        gain = Interval(row[f"{f:g}_gain"], math.nan, int(row["repeats"]), row[f"{f:g}_gain_lo"], row[f"{f:g}_gain_hi"])
        words.append(f"{row['source']} {gain.text(' points')}: {verdict(gain)}")
    return f"**At {100 * f:g} % of the labels** (the fewest tried): " + "; ".join(words) + "." if words else ""


def _headline(table: pd.DataFrame, noise: float) -> str:
    """The source advice: the top source, whether it beats NoPretrain, and a warning when the ranking is within noise."""
    top = table.iloc[0]
    lines = []
    if top["source"] == NO_PRETRAIN:
        lines.append("**No pretraining source beat training from random weights** on validation (NoPretrain ranks first).")
    else:
        gain = Interval(top["gain"], math.nan, int(top["repeats"]), top["gain_lo"], top["gain_hi"])
        lines.append(f"**Pretrain on {top['source']}**: the highest validation IoU averaged over label fractions; "
                     f"its gain over no pretraining is {gain.text(' points')} (95 % interval, paired by repeat): {top['verdict']}.")
    others = table[(table.source != NO_PRETRAIN)]
    if len(others) and (others.verdict.str.startswith("not distinguishable")).all():
        lines.append("No source is distinguishable from no pretraining on this task at these repeats.")
    if len(table) > 1 and abs(table.iloc[0]["mean_over_fractions"] - table.iloc[1]["mean_over_fractions"]) < noise:
        lines.append(f"Warning: the top two ({table.iloc[0]['source']}, {table.iloc[1]['source']}) differ by "
                     f"{abs(table.iloc[0]['mean_over_fractions'] - table.iloc[1]['mean_over_fractions']):.1f} points, less than the "
                     f"repeat-to-repeat noise ({noise:.1f} points sd): treat them as tied; more repeats would separate them.")
    return "\n\n".join(lines)


def build_recommendation(history_paths: Iterable[str | Path], task: str, fractions: Sequence[float], out_md: str | Path,
                         out_csv: str | Path, out_png: str | Path, out_choice: str | Path, demo: bool,
                         rung_paths: Sequence[str | Path] = (), final_steps: int | None = None) -> str:
    """Write the ranking (CSV, Markdown with the advice), the learning-curve plot and the chosen
    model (JSON, read by ``prediction.zarr``); returns the Markdown. Fast protocol: ``rung_paths``
    (``rung<k>.json``, the rungs before the last, whose ``final_steps`` the runs ranked here trained)
    add a section on who was dropped when and why; dropped runs are not ranked."""
    histories = load_histories(history_paths)
    table = rank_sources(histories, fractions)
    choice = chosen_run(histories, table, fractions)
    fits = learning_curves(histories, fractions)
    need, labels_text = labels_advice(histories, table, fractions, fits)
    noise = repeat_noise(histories)
    top = fits[choice.source]
    write_json(out_choice, {"task": task, "source": choice.source, "budget": choice.budget, "rep": choice.rep,
                            "model_id": choice.model_id, "labels_needed": need,
                            "labels_needed_interval": [top.needed.lo, top.needed.hi] if top.resolved else None,
                            "gain_2x_labels": [top.gain_2x.value, top.gain_2x.lo, top.gain_2x.hi] if top.resolved else None,
                            "demo": demo})
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    plot_learning_curve(table, fractions, task, out_png, demo, fits)
    shown = table.drop(columns=[c for c in table.columns if c.endswith(("_sd", "_gain", "_gain_lo", "_gain_hi"))])
    md = ("> **DEMO OUTPUT** - synthetic data.\n\n" if demo else "") + (
        f"# Recommendation for {task}\n\n{_headline(table, noise)}\n\n{_low_label_sentence(table, fractions)}\n\n{labels_text}\n\n"
        f"Validation foreground IoU (%): mean and 95 % interval half-width (`_ci95`) over {int(table.repeats.max())} repeats per "
        f"fraction; `gain`: mean over fractions minus NoPretrain's, paired by repeat, with its 95 % interval "
        f"(`gain_lo`, `gain_hi`). Repeat-to-repeat noise: {noise:.1f} points sd. The test region is not used.\n\n"
        + shown.to_markdown(index=False, floatfmt=".2f")
        + "\n\nGain over NoPretrain at each label fraction (IoU points, paired by repeat, 95 % interval; * excludes 0):\n\n"
        + gains_by_fraction(table, fractions).to_markdown(index=False)
        + f"\n\nLearning curves (inverse power law fitted to each source's repeats; labels needed for {100 * ENOUGH:g} % of the IoU at "
        f"{100 * max(fractions):g} % of the labels, and the expected gain of labelling 2x more, with 95 % bootstrap intervals):\n\n"
        + curves_table(fits, table.source.tolist()).to_markdown(index=False) + "\n\nLearning curves: `learning_curve.png` beside this file (dashed: resolved fits). "
        f"`prediction.zarr` is predicted with `{choice.model_id}` (the top source's best repeat at {100 * max(fractions):g} %).\n"
    + (f"\n## Rungs\n\n{rungs_markdown(rung_paths, final_steps, dict(zip(table.source, table.mean_over_fractions)))}\n" if final_steps else "")
    )
    write_text(out_md, md)
    return md
