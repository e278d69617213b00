"""The fast recommendation protocol's grid: which fine-tunes run in rungs, and their paths.

Successive halving as a static DAG: every recommendation fine-tune of the fast protocol runs
as rungs 1..K of one schedule whose horizon is the last rung's steps. Rungs 1..K-1 write
``models/rungs/<source>__<target>/<budget>/rep<r>/rung<k>/`` (model, history and the
``state.pt`` the next rung resumes); rung K is the run's ordinary ``models/finetune/...``
model, so evaluation, prediction and the model card need nothing new. A recommend task of the
fast protocol is no experiment target (checked with the config), so no run is needed both whole
(Table 2, Fig. 2) and in rungs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vemtransfer.config.grid import Run, recommend_runs
from vemtransfer.config.views import Experiment


def is_fast(raw: Mapping[str, Any]) -> bool:
    """The recommendation runs the fast protocol (and has tasks to run it on)."""
    rec = raw["recommend"]
    return rec["protocol"] == "fast" and bool(rec["tasks"])


def rung_steps(raw: Mapping[str, Any]) -> list[int]:
    """Steps at the end of each rung; the last is the horizon."""
    return list(raw["recommend"]["rungs"])


def rung_runs(exp: Experiment, tasks: list[str]) -> set[Run]:
    """The recommendation fine-tunes trained in rungs: every one of the fast protocol's tasks."""
    return {run for task in tasks for run in recommend_runs(exp, task)}


def rung_id(run: Run, rung: int) -> str:
    """Folder of ``run``'s rung ``rung`` under ``models/`` (an intermediate rung, not a model id)."""
    return f"rungs/{run.source}__{run.target}/{run.budget}/rep{run.rep}/rung{rung}"


def survivors_name(rung: int) -> str:
    """The file (under ``recommend/<task>/``) naming who trains after rung ``rung``."""
    return f"rung{rung}.json"
