"""finetune_rung (and finetune_model's last rung): one rung of a fast-protocol fine-tune, or its pruned marker.

The DAG is static, so every candidate's every rung is a job; a candidate dropped after an
earlier rung (not among ``rung<k-1>.json``'s survivors) does not train: its job copies the
model of its last trained rung and marks the history ``pruned_at`` (when) and ``pruned_why``,
within a second. The recommendation report leaves marked runs out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from vemtransfer.config import Config
from vemtransfer.core.storage import save_torch, write_json
from vemtransfer.jobs.training import train_job


def rung_job(cfg: Config, source: str, target: str, budget: str, rep: int, patch_index: str | Path, out_model: str | Path,
             init: str | Path | None, rung: int, rungs: list[int], survivors: str | Path | None = None,
             previous: str | Path | None = None, threads: int = 1, plan: str | Path | None = None) -> dict[str, Any]:
    """Rung ``rung`` (1-based) of ``rungs`` (steps at each rung's end) of one fine-tune into ``out_model``'s folder.

    ``survivors``: the previous rung's ``rung<k-1>.json`` (None at rung 1); ``previous``: the previous
    rung's ``model.pt`` (its folder's ``state.pt`` is resumed, the model copied when this candidate is pruned).
    Rungs before the last also keep ``state.pt`` for the next one.
    """
    out_dir, folder = Path(out_model).parent, Path(previous).parent if previous else None
    dropped = _dropped(survivors, source)
    if dropped is not None:
        return _pruned(folder, out_dir, dropped, last=rung == len(rungs))
    return train_job(cfg, source, target, budget, rep, patch_index, out_model, init, threads, plan,
                     horizon=rungs[-1], stop_at=rungs[rung - 1] if rung < len(rungs) else None,
                     resume_from=folder / "state.pt" if folder else None)


def _dropped(survivors: str | Path | None, source: str) -> dict[str, Any] | None:
    """The record of ``source``'s drop in a survivors file, or None when it trains on."""
    if survivors is None:
        return None
    record = json.loads(Path(survivors).read_text())
    if source in record["survivors"]:
        return None
    return next(d for d in record["dropped"] if d["source"] == source)


def _pruned(previous: Path, out_dir: Path, dropped: dict[str, Any], last: bool) -> dict[str, Any]:
    """The marker of a pruned candidate: its last trained rung's model and history, marked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(previous / "model.pt", out_dir / "model.pt")
    history = json.loads((previous / "history.json").read_text()) | {"pruned_at": dropped["rung"], "pruned_why": dropped["why"]}
    write_json(out_dir / "history.json", history)
    if not last:
        save_torch(out_dir / "state.pt", {"pruned_at": dropped["rung"]})
    return history
