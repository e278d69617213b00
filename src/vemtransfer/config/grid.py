"""The experiment grid as data: which models to train and which metrics each output needs.

The Snakemake rules and the README's job counts both come from these functions, so the
workflow cannot drift from the paper's design: pretraining is one job per source task and
repeat; Table 2 needs every (NoPretrain or source) x target pair at the fine-tuning budget,
except the diagonal, which is the pretrained model itself (100 % of the target's data);
Fig. 2 needs baseline and transfer at every fraction for every scenario.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vemtransfer.config import NO_PRETRAIN, TASK_ID_PATTERN, Experiment

PRETRAIN_BUDGET = "full"
"""The budget of a pretraining run: every patch of the source task."""
BUDGET_PATTERN = r"p[1-9]\d*|f(?:0?\.\d+|1(?:\.0*)?)"
"""A fine-tuning budget: ``p<N>`` patches (Table 2) or ``f<fraction>`` of them, in (0, 1] (Fig. 2)."""
_MODEL_ID_PARTS = (rf"pretrain/(?P<task>{TASK_ID_PATTERN})/rep(?P<prep>[1-9]\d*)"
                   rf"|finetune/(?P<source>{TASK_ID_PATTERN}|{NO_PRETRAIN})__(?P<target>{TASK_ID_PATTERN})/(?P<budget>{BUDGET_PATTERN})/rep(?P<rep>[1-9]\d*)")
MODEL_ID_PATTERN = re.sub(r"\(\?P<\w+>", "(?:", _MODEL_ID_PARTS)
"""A model id (:attr:`Run.model_id`), the path of a model under ``models/`` and of its scores under
``metrics/``; without named groups, so that Snakemake can use it as a wildcard constraint."""
_MODEL_ID = re.compile(rf"^(?:{_MODEL_ID_PARTS})$")
_BUDGET = re.compile(rf"^(?:p(?P<patches>[1-9]\d*)|f(?P<fraction>0?\.\d+|1(?:\.0*)?)|{PRETRAIN_BUDGET})$")


@dataclass(frozen=True, order=True)
class Run:
    """One trained model: ``source`` is NoPretrain or a pretraining task; ``budget`` is
    ``p<N>``, ``f<fraction>`` or ``full`` (pretraining, where source == target)."""

    source: str
    target: str
    budget: str
    rep: int

    @property
    def is_pretrain(self) -> bool:
        return self.budget == PRETRAIN_BUDGET

    @property
    def model_id(self) -> str:
        """Path fragment under ``models/`` and ``metrics/``; :meth:`parse` reads it back."""
        if self.is_pretrain:
            return f"pretrain/{self.target}/rep{self.rep}"
        return f"finetune/{self.source}__{self.target}/{self.budget}/rep{self.rep}"

    @classmethod
    def parse(cls, model_id: str) -> Run:
        """The run of a model id (``pretrain/<task>/rep<r>`` or ``finetune/<source>__<target>/<budget>/rep<r>``)."""
        m = _MODEL_ID.match(model_id)
        if not m:
            raise ValueError(f"model id {model_id!r} is not pretrain/<task>/rep<r> or finetune/<source>__<target>/<budget>/rep<r>")
        if m["task"]:
            return cls(m["task"], m["task"], PRETRAIN_BUDGET, int(m["prep"]))
        return cls(m["source"], m["target"], m["budget"], int(m["rep"]))


def budget_size(budget: str, n_patches: int) -> int:
    """How many training patches a budget names.

    ``p100``: 100 patches (Table 2); ``f0.25``: a quarter of the patches (Fig. 2), at least
    one; ``full``: all of them (pretraining). Asking for more patches than exist is an error,
    since silently using fewer would mislabel the result.
    """
    m = _BUDGET.match(budget)
    if not m:
        raise ValueError(f"budget {budget!r} is not p<N>, f<fraction in (0,1]> or {PRETRAIN_BUDGET}")
    if m["patches"]:
        k = int(m["patches"])
        if k > n_patches:
            raise ValueError(f"budget {budget} asks for {k} patches but only {n_patches} exist")
        return k
    if m["fraction"]:
        frac = float(m["fraction"])
        if not 0 < frac <= 1:
            raise ValueError(f"budget {budget!r}: fraction must be in (0, 1]")
        return max(1, round(frac * n_patches))
    return n_patches


def pretrained_run(exp: Experiment, source: str, rep: int) -> Run:
    """The pretrained model that repeat ``rep`` of a fine-tune from ``source`` starts from.

    Repeat r uses pretrained repeat r; recommendation repeats beyond ``exp.repeats`` cycle
    through the experiment's pretrained models, so more repeats cost fine-tunes, not pretraining.
    """
    return Run(source, source, PRETRAIN_BUDGET, (rep - 1) % exp.repeats + 1)


def table2_budget(exp: Experiment) -> str:
    """Table 2's fine-tuning budget: ``p<N>``, or ``f1`` (every patch) when no patch count is set."""
    return f"p{exp.finetune_patches}" if exp.finetune_patches else fraction_budget(1.0)


def fraction_budget(fraction: float) -> str:
    """The budget of ``fraction`` of a task's patches (``f0.25``), as the model ids spell it."""
    return f"f{fraction:g}"


def reps(exp: Experiment) -> range:
    return range(1, exp.repeats + 1)


def pretrain_runs(exp: Experiment) -> list[Run]:
    return [Run(t, t, PRETRAIN_BUDGET, r) for t in exp.sources for r in reps(exp)]


def table2_runs(exp: Experiment) -> list[Run]:
    """Every cell of Table 2 (rows NoPretrain + sources, columns targets) for every repeat."""
    out = []
    for row in (NO_PRETRAIN, *exp.sources):
        for col in exp.targets:
            for r in reps(exp):
                out.append(Run(col, col, PRETRAIN_BUDGET, r) if row == col else Run(row, col, table2_budget(exp), r))
    return out


def fig2_runs(exp: Experiment) -> list[Run]:
    """Baseline and transfer at every fraction of every scenario (baselines shared by target)."""
    out = set()
    for sc in exp.scenarios:
        for f in exp.fractions:
            for r in reps(exp):
                out.add(Run(sc.source, sc.target, fraction_budget(f), r))
                out.add(Run(NO_PRETRAIN, sc.target, fraction_budget(f), r))
    return sorted(out)


def all_runs(exp: Experiment) -> list[Run]:
    """Every model the experiment trains (pretraining included), each once."""
    return sorted(set(pretrain_runs(exp)) | set(table2_runs(exp)) | set(fig2_runs(exp)))


def job_counts(exp: Experiment) -> dict[str, int]:
    """Training/evaluation job counts, as quoted in the README."""
    runs = all_runs(exp)
    pre = sum(r.is_pretrain for r in runs)
    t2 = {r for r in table2_runs(exp) if not r.is_pretrain}
    f2 = set(fig2_runs(exp))
    return {
        "pretrain_model": pre,
        "finetune_model": len(runs) - pre,
        "finetune_model (Table 2)": len(t2),
        "finetune_model (Fig. 2)": len(f2),
        "finetune_model (shared by both)": len(t2 & f2),
        "evaluate_model": len(runs),
    }


def figure_runs(figures: Mapping[str, Any], exp: Experiment) -> dict[str, list[Run]]:
    """The models each of Figs. 3-5 shows (repeat ``figures.rep``); baselines start from random weights."""
    rep, budget = figures.get("rep", 1), table2_budget(exp)

    def run(source: str, target: str, b: str) -> Run:
        return Run(target, target, PRETRAIN_BUDGET, rep) if source == target else Run(source, target, b, rep)

    out: dict[str, list[Run]] = {}
    if "fig3" in figures:
        f = figures["fig3"]
        out["fig3"] = [run(NO_PRETRAIN, f["target"], f["budget"]), run(f["source"], f["target"], f["budget"])]
    if "fig4" in figures:
        out["fig4"] = [r for p in figures["fig4"]["pairs"] for r in (run(NO_PRETRAIN, p["target"], budget), run(p["source"], p["target"], budget))]
    if "fig5" in figures:
        out["fig5"] = [run(p["source"], p["target"], budget) for p in figures["fig5"]["models"].values()]
    return out


def recommend_runs(exp: Experiment, task: str) -> list[Run]:
    """Fine-tunes of ``task`` from NoPretrain and every other experiment source, at every fraction and
    recommendation repeat (their pretrained models: the same repeat of each source)."""
    sources = [NO_PRETRAIN, *(s for s in exp.sources if s != task)]
    return [Run(s, task, fraction_budget(f), r) for s in sources for f in exp.fractions for r in range(1, exp.recommend_repeats + 1)]
