"""Paper Table 3: SAM2 and MitoNet baselines against our best transfer model, with the paper's values.

A pure function of cached intermediates: the baselines' metrics JSONs, Table 2's long CSV (our
rows: for each target, the pretraining source with the highest mean foreground IoU at the
Table 2 budget, diagonal and NoPretrain excluded, as the paper's "best transferred +
fine-tuned model") and the paper's numbers. IoU is in %; ``paper`` is compared with our
foreground IoU, and the fg/bg mean the authors' code computed is shown beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vemtransfer.baselines.rows import OURS, Row, ours_rows, rows
from vemtransfer.config import NO_PRETRAIN, Config
from vemtransfer.config.grid import table2_budget
from vemtransfer.core.storage import atomic_path, write_text
from vemtransfer.report.tables import DEMO_BANNER

COLUMNS = ["method", "task", "Method", "Annotations", "Organelle", "iou_fg", "iou_mean", "paper", "ours_minus_paper", "detail"]


def best_transfer(long: pd.DataFrame, target: str, budget: str) -> pd.Series | None:
    """Table 2's best (source -> target) cell at ``budget`` by mean foreground IoU, or None."""
    fg = long[(long.metric == "iou_fg") & (long.target == target) & (long.budget == budget)
              & (long.source != NO_PRETRAIN) & (long.source != target)]
    return None if fg.empty else fg.loc[fg["mean"].idxmax()]


def _ours(row: Row, long: pd.DataFrame, budget: str) -> dict[str, Any] | None:
    best = best_transfer(long, row.task, budget)
    if best is None:
        return None
    mean = long[(long.metric == "iou_mean") & (long.source == best.source) & (long.target == row.task) & (long.budget == budget)]
    return {"iou_fg": best["mean"], "iou_mean": mean["mean"].iloc[0] if len(mean) else None,
            "detail": f"{best.source} -> {row.task}, {budget}, mean of {int(best.n)} repeats (Table 2)"}


def table3(metrics: Sequence[Mapping[str, Any]], baseline_rows: Sequence[Row], ours: Sequence[Row], long: pd.DataFrame | None, budget: str,
           paper: Mapping[str, Mapping[str, float]] | None) -> pd.DataFrame:
    """One line per row (baselines in config order, then ours): our IoU, the paper's and the difference."""
    by_key = {(m["method"], m["task"]): m for m in metrics}
    out = []
    for row in [*baseline_rows, *ours]:
        if row.method == OURS:
            values = _ours(row, long, budget) if long is not None else None
            if values is None:
                continue
        else:
            m = by_key.get((row.method, row.task))
            if m is None:
                raise ValueError(f"no metrics for Table 3 row {row.method} on {row.task}")
            pct = {k: None if m[k] is None else 100 * m[k] for k in ("iou_fg", "iou_mean")}
            values = {**pct, "detail": f"{len(m['test_sections'])} test sections, {m['seconds']} s on {m['device']}"}
        ref = (paper or {}).get(row.task, {}).get(row.method)
        out.append({"method": row.method, "task": row.task, "Method": row.name, "Annotations": row.annotations, "Organelle": row.organelle,
                    **values, "paper": ref, "ours_minus_paper": None if ref is None or values["iou_fg"] is None else values["iou_fg"] - ref})
    return pd.DataFrame(out, columns=COLUMNS)


def _pct(v: Any) -> str:
    return "" if v is None or pd.isna(v) else f"{v:.2f}"


def to_markdown(table: pd.DataFrame, demo: bool, sections: Any) -> str:
    """Table 3 as the paper lays it out, plus fg/bg mean, paper value and difference; best per organelle in bold."""
    best = table.groupby("Organelle")["iou_fg"].idxmax().to_dict() if len(table) else {}
    lines = [DEMO_BANNER] if demo else []
    lines += ["## Table 3 - rat liver, baselines vs our best transfer model", "",
              "| Method | Annotations | Organelle | IoU fg (%) | IoU fg/bg mean (%) | Paper IoU (%) | Ours - paper | Detail |",
              "|---|---|---|---|---|---|---|---|"]
    for i, r in table.iterrows():
        fg = _pct(r.iou_fg)
        fg = f"**{fg}**" if best.get(r.Organelle) == i else fg
        lines.append(f"| {r.Method} | {r.Annotations} | {r.Organelle} | {fg} | {_pct(r.iou_mean)} | {_pct(r.paper)} | {_pct(r.ours_minus_paper)} | {r.detail} |")
    scope = "all test sections" if sections is None else f"test sections {list(sections)} (a subset)"
    lines += ["", f"Baselines on the raw-resolution test sections ({scope}); ours from Table 2, scored on the prepared "
              "(resized) test volume. 'Paper' is the published IoU, compared with our foreground IoU."]
    return "\n".join(lines) + "\n"


def build_table3(metric_paths: Sequence[str | Path], table2_long: str | Path | None, cfg: Config, paper_file: str | Path | None,
                 out: Mapping[str, str | Path]) -> str:
    """Write ``table3.csv`` and ``table3.md`` from the baselines' metrics and Table 2's long CSV (and the
    paper's numbers from ``paper_file``, if given); returns the Markdown."""
    raw = cfg.raw
    metrics = [json.loads(Path(p).read_text()) for p in metric_paths]
    long = pd.read_csv(table2_long) if table2_long else None
    paper = yaml.safe_load(Path(paper_file).read_text()).get("table3") if paper_file else None
    table = table3(metrics, rows(raw), ours_rows(raw), long, table2_budget(cfg.experiment), paper)
    with atomic_path(out["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    markdown = to_markdown(table, cfg.demo, raw["baselines"]["sections"])
    write_text(out["md"], markdown)
    return markdown
