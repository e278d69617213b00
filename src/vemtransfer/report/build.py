"""Everything derived from Table 2's metric files, written in one pass (the make_table2 rule)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from vemtransfer.config import NO_PRETRAIN, Config
from vemtransfer.config.grid import table2_budget
from vemtransfer.core.storage import atomic_path, write_text
from vemtransfer.report.figures import plot_table2_heatmap
from vemtransfer.report.ranking import paper_vs_ours, source_gains
from vemtransfer.report.tables import DEMO_BANNER, load_metrics, summarise, table2_cells, table2_outputs


def _csv(frame, path: str | Path, index: bool = False) -> None:  # noqa: ANN001
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index)


def build_table2(metric_paths: Iterable[str | Path], cfg: Config, paper_file: str | Path | None, out: Mapping[str, str | Path]) -> str:
    """Write Table 2 (CSV, Markdown, long stats), paper-vs-ours, source gains and the heatmap; returns the Markdown.

    ``paper_file``: the paper's published numbers (``paper_results``), or None for no comparison.
    """
    exp, budget = cfg.experiment, table2_budget(cfg.experiment)
    df = load_metrics(metric_paths)
    matrix, markdown, long = table2_outputs(df, exp.sources, exp.targets, budget, cfg.demo)
    summary = summarise(df, "iou_fg")
    paper = yaml.safe_load(Path(paper_file).read_text())["table2"] if paper_file else None
    per_target, per_source = source_gains(df, exp.sources, exp.targets, budget)
    _csv(matrix, out["csv"], index=True)
    _csv(long, out["long"])
    _csv(paper_vs_ours(summary, exp.sources, exp.targets, budget, paper), out["paper_vs_ours"])
    _csv(per_target, out["gains"])
    _csv(per_source, out["source_ranking"])
    banner = DEMO_BANNER if cfg.demo else ""
    ranking_md = (f"{banner}\n### Which pretraining source helps each target? (foreground IoU gain over {NO_PRETRAIN}, points, paired by repeat, 95 % interval)\n\n"
                  + per_target.to_markdown(index=False, floatfmt=".2f") + "\n\n### Average gain per source\n\n"
                  + per_source.to_markdown(index=False, floatfmt=".2f") + "\n")
    write_text(out["md"], markdown)
    write_text(out["source_ranking_md"], ranking_md)
    cells = table2_cells(summary, exp.sources, exp.targets, budget)
    heat = cells.pivot(index="pretrain", columns="target", values="mean").reindex(index=[NO_PRETRAIN, *exp.sources], columns=list(exp.targets))
    plot_table2_heatmap(heat, out["heatmap"], f"Table 2: foreground IoU (%)\n{budget} fine-tuning; diagonal = pretrained model", cfg.demo)
    return markdown + "\n" + ranking_md
