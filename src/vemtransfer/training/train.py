"""Training and fine-tuning of the RSUNet, resumable and selected on validation data.

One function serves pretraining, fine-tuning and training from scratch (``init=None``):
the only difference between them is where the first weights come from. Unlike the
authors' code, the kept model is the one with the best IoU on our *validation* split,
carved from the training data; this module never sees the test split.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from vemtransfer.config import EvalConfig, ModelConfig, TrainConfig
from vemtransfer.core.device import pick_device
from vemtransfer.core.storage import save_torch, write_json
from vemtransfer.data.patches import PatchBatches, RandomPatches, training_batches, validation_crops
from vemtransfer.data.splits import Volume, in_memory
from vemtransfer.inference.predict import channels_last_on, memory_format, precision_autocast, predict_crops, predict_volume, training_precision
from vemtransfer.model.checkpoint import load_pretrained_weights, save_model
from vemtransfer.model.loss import DiceCELoss
from vemtransfer.model.metrics import confusion, scores
from vemtransfer.model.network import RSUNet
from vemtransfer.training.device_batches import device_batches

log = logging.getLogger(__name__)


@dataclass
class _Progress:
    """Everything besides model and optimizer that a resumed job must restore."""

    step: int = 0
    best_score: float = -1.0
    best_step: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad_validations: int = 0
    loss: list[list[float]] = field(default_factory=list)
    val: list[list[float]] = field(default_factory=list)
    val_seconds: float = 0.0
    stopped: bool = False
    """Patience ran out: a run resumed from this state trains no further."""


@dataclass(frozen=True)
class Validation:
    """What model selection scores: ``val`` whole (``crops`` None) or crops of ``size`` at ``crops``."""

    val: Volume
    patch_size: tuple[int, int, int]
    cfg: EvalConfig
    crops: list[tuple[int, int, int]] | None = None
    size: tuple[int, int, int] | None = None
    channels_last: bool = False

    def score(self, model: RSUNet, device: torch.device, amp: bool) -> dict[str, float | None]:
        """Scores of the binarised prediction: foreground IoU pooled over every crop (or the whole split)."""
        if self.crops is None:
            prob = predict_volume(model, self.val.image, self.patch_size, self.cfg.overlap, self.cfg.batch_size, device, amp, self.channels_last,
                                 self.val.blocks)
            return scores(confusion(prob > self.cfg.threshold, np.asarray(self.val.label)))
        prob = predict_crops(model, self.val.image, self.crops, self.size, self.cfg.batch_size, device, amp, self.channels_last)
        label = np.stack([self.val.label[tuple(slice(o, o + p) for o, p in zip(c, self.size))] for c in self.crops])
        return scores(confusion(prob > self.cfg.threshold, label))


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Learning rate of optimiser step ``step`` (0-based) of ``total``: constant, or linear warm-up then cosine to 0."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    warm = int(cfg.warmup * total)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def make_optimizer(model: RSUNet, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=device.type == "cuda")


def _resume(path: Path, signature: dict, model: RSUNet, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> _Progress:
    """Load a checkpoint written by this same job; ignore (and say so) one from another config."""
    if not path.exists():
        return _Progress()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("signature") != signature:
        log.warning("ignoring %s: written by a job with different settings", path)
        return _Progress()
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    scaler.load_state_dict(ckpt["scaler"])
    log.info("resuming from %s at step %d", path, ckpt["progress"]["step"])
    return _Progress(**ckpt["progress"])


def _make_loader(data: PatchBatches | RandomPatches, start: int, device: torch.device, workers: int) -> torch.utils.data.DataLoader:
    steps = torch.utils.data.Subset(data, range(start, len(data)))
    return torch.utils.data.DataLoader(
        steps, batch_size=None, shuffle=False, num_workers=workers,
        pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
    )


def train_model(
    train: Volume,
    val: Volume,
    origins: list[tuple[int, ...]],
    patch_size: tuple[int, int, int],
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    eval_cfg: EvalConfig,
    out_dir: str | Path,
    seed: int,
    init: str | Path | None = None,
    device: torch.device | None = None,
    meta: dict[str, Any] | None = None,
    callback: Callable[[int], None] | None = None,
    sparse: bool = False,
    val_seed: int | None = None,
    cell_size: tuple[int, int, int] | None = None,
    stop_at: int | None = None,
    resume_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train on the budget's tiles ``origins`` of ``train``, keep the best model on ``val``.

    Writes ``model.pt`` and ``history.json`` into ``out_dir``; while running, a resumable
    ``checkpoint.pt`` every ``cfg.checkpoint_every`` steps, which a rerun of the same job
    picks up. ``callback(step)`` runs after every step (progress hooks, tests). ``sparse``:
    the labels hold :data:`~vemtransfer.data.splits.IGNORE` sections, left out of the loss.
    The splits' ``blocks`` (sections per stacked volume, from the patch index) keep patches and
    validation crops inside one volume. ``val_seed``
    places the validation crops (default ``seed``; give every model of the same prepared data the same).
    ``cell_size``: with random sampling, ``origins`` are label-budget cells of this size
    (``prepare_task(cells=True)``) rather than patch-sized tiles.

    Rungs (the fast recommendation protocol): ``stop_at`` ends the job after that many of the
    schedule's steps (validating there), keeping the training state in ``state.pt``;
    ``resume_from`` (a ``state.pt`` of the same run, written at a shorter ``stop_at``) continues
    it. The learning-rate schedule and the batches always span the full horizon, so the rungs
    chained end to end train exactly what one uninterrupted run does.
    """
    out_dir, device = Path(out_dir), device or pick_device()
    train, val = in_memory(train), in_memory(val)
    channels_last = channels_last_on(device, cfg.channels_last, cfg.cuda_channels_last)
    if cfg.val_crops:
        crops = validation_crops(list(val.blocks or [len(val.image)]), val.image.shape[1:], cfg.val_crop_size, cfg.val_crops, seed if val_seed is None else val_seed)
        validation = Validation(val, patch_size, eval_cfg, crops, cfg.val_crop_size, channels_last)
    else:
        validation = Validation(val, patch_size, eval_cfg, channels_last=channels_last)
    data = training_batches(train, origins, patch_size, cfg, seed, list(train.blocks) if train.blocks else None, cell_size)
    with _determinism(cfg.deterministic):
        return _train(data, validation, len(origins), cfg, model_cfg, out_dir, seed, init, device, meta, callback, sparse,
                      _Rung(stop_at, Path(resume_from) if resume_from else None))


@dataclass(frozen=True)
class _Rung:
    """Where a rung job stops (None: at the horizon) and the state it starts from (None: fresh or its own checkpoint)."""

    stop_at: int | None = None
    resume_from: Path | None = None


@contextlib.contextmanager
def _determinism(on: bool) -> Iterator[None]:
    """Deterministic algorithms (and no cuDNN autotuning) for the block, if ``on``; restored after.

    cuBLAS also needs ``CUBLAS_WORKSPACE_CONFIG`` set before CUDA starts: set here when it is
    absent, which is early enough in a fresh job process (a Snakemake job is one).
    """
    if not on:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    cudnn = torch.backends.cudnn
    before = (torch.are_deterministic_algorithms_enabled(), cudnn.deterministic, cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        cudnn.deterministic, cudnn.benchmark = before[1], before[2]


def _train(data: PatchBatches | RandomPatches, validation: Validation, n_patches: int, cfg: TrainConfig, model_cfg: ModelConfig,
           out_dir: Path, seed: int, init: str | Path | None, device: torch.device, meta: dict[str, Any] | None,
           callback: Callable[[int], None] | None, sparse: bool, rung: _Rung = _Rung()) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = RSUNet(model_cfg.widths, model_cfg.bn_momentum, model_cfg.planar_levels)
    transferred = load_pretrained_weights(model, init) if init else 0
    fmt = memory_format(channels_last_on(device, cfg.channels_last, cfg.cuda_channels_last))
    model.to(device, memory_format=fmt)
    if cfg.compile:
        model.compile()  # in place: state_dict keys (and so checkpoints) stay those of RSUNet
    if device.type == "cuda" and not cfg.deterministic:
        torch.backends.cudnn.benchmark = True
    precision = training_precision(device, cfg.amp, cfg.cpu_precision, cfg.cuda_precision)
    amp = device.type == "cuda" and precision != "fp32"  # CUDA inference (validation) follows the same switch
    opt = make_optimizer(model, cfg, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    # random windows hide the labels outside the budget's tiles (IGNORE): the loss must skip them
    loss_fn = DiceCELoss(cfg.pos_weight, cfg.dice_smooth, ignore=sparse or isinstance(data, RandomPatches)).to(device)
    signature = {"seed": seed, "steps": len(data), "patches": n_patches, "init": str(init), "widths": list(model_cfg.widths),
                 "planar_levels": model_cfg.planar_levels, "sampling": cfg.sampling}
    ckpt_path = out_dir / "checkpoint.pt"
    start = ckpt_path if ckpt_path.exists() or rung.resume_from is None else rung.resume_from
    prog = _resume(start, signature, model, opt, scaler)
    if rung.resume_from is not None and prog.step == 0:
        raise ValueError(f"{rung.resume_from}: no state of this run to resume the rung from")
    end = min(rung.stop_at or len(data), len(data))
    log.info("training %d steps on %d tiles (%s sampling), %s on %s, %d threads", len(data), n_patches, cfg.sampling, precision, device, torch.get_num_threads())
    started = time.time()
    bar = tqdm(total=len(data), initial=prog.step, desc=out_dir.name, file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 10)
    batches = device_batches(data, prog.step, device, cfg.cuda_data_on_device)
    for x, y in () if prog.stopped or prog.step >= end else batches if batches is not None else _make_loader(data, prog.step, device, cfg.num_workers):
        for group in opt.param_groups:
            group["lr"] = lr_at(prog.step, len(data), cfg)
        x = x.to(device, non_blocking=True, memory_format=fmt)
        loss = _optimise(model, opt, scaler, loss_fn, x, y.to(device, non_blocking=True), precision)
        prog.step += 1
        bar.update(1)
        if prog.step % cfg.log_every == 0 or prog.step == len(data):
            prog.loss.append([prog.step, loss.item()])
            bar.set_postfix(loss=f"{prog.loss[-1][1]:.4f}", best_val_iou=f"{max(prog.best_score, 0):.3f}")
        stop = _maybe_validate(model, validation, cfg, device, amp, prog, len(data), end)
        prog.stopped = stop
        if prog.step % cfg.checkpoint_every == 0 and prog.step < end and not stop:
            save_torch(ckpt_path, {"signature": signature, "model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(), "progress": asdict(prog)})
        if callback:
            callback(prog.step)
        if stop or prog.step >= end:
            break
    bar.close()
    if end < len(data):  # a rung: keep the whole state for the next rung to resume
        save_torch(out_dir / "state.pt", {"signature": signature, "model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(), "progress": asdict(prog)})
    return _finish(model, prog, out_dir, ckpt_path, len(data), n_patches, transferred, time.time() - started, meta or {})


def _optimise(model: RSUNet, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss_fn: DiceCELoss, x: torch.Tensor, y: torch.Tensor,
              precision: str) -> torch.Tensor:
    """One optimisation step; returns the loss without synchronising with the device."""
    with precision_autocast(x.device, precision):
        logits = model(x)
    loss = loss_fn(logits, y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return loss.detach()


def _maybe_validate(model: RSUNet, validation: Validation, cfg: TrainConfig, device: torch.device, amp: bool, prog: _Progress, total: int,
                    end: int | None = None) -> bool:
    """Validate on schedule (and at a rung's ``end``), keep the best weights; True when patience has run out."""
    if prog.step % cfg.val_every and prog.step not in (total, end):
        return False
    started = time.time()
    s = validation.score(model, device, amp)
    prog.val_seconds += time.time() - started
    score = s["iou_fg"] if s["iou_fg"] is not None else 0.0
    prog.val.append([prog.step, score, s["iou_mean"] or 0.0])
    log.info("step %d: validation IoU %.4f (best %.4f)", prog.step, score, max(prog.best_score, 0))
    if score > prog.best_score:
        prog.best_score, prog.best_step, prog.bad_validations = score, prog.step, 0
        prog.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return False
    prog.bad_validations += 1
    return cfg.patience is not None and prog.bad_validations >= cfg.patience


def _finish(model: RSUNet, prog: _Progress, out_dir: Path, ckpt_path: Path, total: int, n_patches: int, transferred: int, seconds: float, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the selected model and the history, then drop the checkpoint."""
    best = copy.deepcopy(model).cpu()
    if prog.best_state is not None:
        best.load_state_dict(prog.best_state)
    history = {
        "steps_planned": total, "steps_done": prog.step, "stopped_early": prog.stopped,
        "n_patches": n_patches, "transferred_tensors": transferred, "best_step": prog.best_step,
        "best_val_iou_fg": prog.best_score, "seconds_this_run": round(seconds, 2), "seconds_validating": round(prog.val_seconds, 2),
        "loss": prog.loss, "val": prog.val, **meta,
    }
    save_model(out_dir / "model.pt", best, {"selected_step": prog.best_step, **meta})
    write_json(out_dir / "history.json", history)
    ckpt_path.unlink(missing_ok=True)
    return history
