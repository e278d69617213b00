"""Views of a validated config (frozen dataclasses), and the part of it each workflow job reads.

A config is validated once (:mod:`vemtransfer.config.validation`); each workflow job then receives
only the part it reads (:func:`job_config`), which is what Snakemake compares to decide a rerun, and
builds its :class:`Config` from that alone (:func:`job_view`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vemtransfer.core.provenance import config_hash

TASK_ID_PATTERN = r"[A-Za-z0-9]+-[A-Za-z]+"
"""A task id (``SNEMI3D-N``): keys of ``tasks`` (the schema's ``$defs.task_id``, anchored) and task wildcards."""
DATASET_ID_PATTERN = r"[A-Za-z0-9_]+"
"""A dataset name (``ratliver_volume``): keys of ``datasets`` (the schema's ``$defs.dataset_id``, anchored) and the download wildcard."""
NO_PRETRAIN = "NoPretrain"
"""Table 2's first row and the Fig. 2 baseline: training from random weights."""

Range = tuple[int, int, int]


class ConfigError(ValueError):
    """A config that does not describe a runnable experiment; the message names the key."""


@dataclass(frozen=True)
class Region:
    """A box of a dataset's volume; ``None`` on an axis means the whole axis."""

    z: Range | None = None
    y: Range | None = None
    x: Range | None = None
    volumes: tuple[str, ...] | None = None

    def slices(self) -> tuple[slice, slice, slice]:
        """The (z, y, x) slices of this region, for indexing a numpy volume."""
        return tuple(slice(*r) if r else slice(None) for r in (self.z, self.y, self.x))  # type: ignore[return-value]


@dataclass(frozen=True)
class TaskSpec:
    """One segmentation task: which dataset, which object, which regions form each split."""

    id: str
    dataset: str
    label: str
    train: Region
    test: Region | None
    """``None``: no test region (a recommend or source task only; its models are ranked on validation)."""
    val_axis: str
    val_fraction: float
    patch_stride: tuple[int, int, int] | None = None
    preprocess: Mapping[str, Any] = field(default_factory=dict)
    folds: tuple[tuple[Region, Region], ...] = ()
    """(train, test) of each cross-validation fold (UroCell); ``train``/``test`` are fold 1's."""
    labelled: frozenset[int] | None = None
    """Dataset sections (z) that carry labels (sparse annotation); ``None``: every section."""

    def fold(self, rep: int) -> int | None:
        """The fold (1-based) that repeat ``rep`` uses, or None for a task without folds.

        Folds cycle over the experiment's repeats: with 3 folds and 3 repeats every fold is
        trained and tested once, and a Table 2 cell averages over them.
        """
        return (rep - 1) % len(self.folds) + 1 if self.folds else None

    def data_id(self, rep: int = 1) -> str:
        """The prepared data of repeat ``rep``, relative to ``<resources>/prepared``: the task id, plus ``/fold<k>``."""
        k = self.fold(rep)
        return self.id if k is None else f"{self.id}/fold{k}"

    def data_ids(self) -> list[str]:
        """Every data id of this task (one per fold)."""
        return [f"{self.id}/fold{k}" for k in range(1, len(self.folds) + 1)] if self.folds else [self.id]

    def fold_of_data(self, data_id: str) -> int | None:
        """The fold a data id names (None for a task without folds)."""
        return int(data_id.rsplit("fold", 1)[1]) if self.folds and data_id in self.data_ids() else None

    def for_data(self, data_id: str) -> TaskSpec:
        """This task with ``train``/``test`` of the fold that ``data_id`` names."""
        if data_id not in self.data_ids():
            raise ValueError(f"{data_id!r} is not a data id of task {self.id} ({', '.join(self.data_ids())})")
        if not self.folds:
            return self
        train, test = self.folds[self.fold_of_data(data_id) - 1]
        return dataclasses.replace(self, train=train, test=test)

    def regions(self) -> list[Region]:
        """Every train and test region of every fold (what must be downloaded)."""
        pairs = self.folds or ((self.train, self.test),)
        return [r for pair in pairs for r in pair if r is not None]


@dataclass(frozen=True)
class ModelConfig:
    widths: tuple[int, ...]
    bn_momentum: float
    planar_levels: int = 0


@dataclass(frozen=True)
class TrainConfig:
    lr: float
    batch_size: int
    pos_weight: float
    dice_smooth: float
    epochs: int
    max_steps: int | None
    val_every: int
    checkpoint_every: int
    patience: int | None
    amp: bool
    num_workers: int
    log_every: int
    p_intensity: float
    contrast: tuple[float, float]
    brightness: tuple[float, float]
    compile: bool = False
    deterministic: bool = False
    steps: int | None = None
    """Fixed optimiser steps at every label budget (overrides epochs/max_steps)."""
    optimizer: str = "adam"
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    warmup: float = 0.0
    sampling: str = "tiles"
    foreground_fraction: float = 0.0
    val_crops: int | None = None
    """Validation crops per validation (None: the whole split)."""
    val_crop_size: tuple[int, int, int] | None = None
    channels_last: bool = False
    cpu_precision: str = "fp32"
    cuda_channels_last: bool = True
    cuda_precision: str = "fp16"
    cuda_data_on_device: bool = False


@dataclass(frozen=True)
class EvalConfig:
    threshold: float
    overlap: float
    batch_size: int


@dataclass(frozen=True)
class Scenario:
    title: str
    source: str
    target: str


@dataclass(frozen=True)
class Experiment:
    repeats: int
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    finetune_patches: int | None
    """Table 2's budget in patches; None: all of them (budget f1)."""
    fractions: tuple[float, ...]
    scenarios: tuple[Scenario, ...]
    recommend_repeats: int = 1
    """Repeats of each recommendation run (recommend.repeats, else repeats)."""


class Config:
    """A validated config (``raw``: defaults filled, recipe applied), or the part of one that a
    workflow job reads (:func:`job_config`). Views are built on access, so a job's config only
    needs the sections the job uses; reading another one is an error naming it."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def section(self, key: str) -> Any:
        """``raw[key]``, or a :class:`ConfigError` saying the job did not declare it."""
        try:
            return self.raw[key]
        except KeyError:
            raise ConfigError(f"config key {key!r} is not part of this job's config: add it to the rule's "
                              "job_config(...) params in workflow/rules") from None

    @cached_property
    def tasks(self) -> Mapping[str, TaskSpec]:
        return {tid: _task(tid, t) for tid, t in self.section("tasks").items()}

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return tuple(self.section("patches")["size"])

    @property
    def patch_stride(self) -> tuple[int, int, int]:
        return tuple(self.section("patches")["stride"])

    @property
    def model(self) -> ModelConfig:
        m = self.section("model")
        return ModelConfig(tuple(m["widths"]), m["bn_momentum"], m["planar_levels"])

    @cached_property
    def experiment(self) -> Experiment:
        exp = self.section("experiment")
        return Experiment(
            repeats=exp["repeats"], sources=tuple(exp["sources"]), targets=tuple(exp["targets"]),
            finetune_patches=exp["finetune_patches"], fractions=tuple(exp["fractions"]),
            scenarios=tuple(Scenario(**s) for s in exp["scenarios"]),
            recommend_repeats=self.section("recommend")["repeats"] or exp["repeats"],
        )

    @property
    def evaluation(self) -> EvalConfig:
        return EvalConfig(**self.section("evaluation"))

    @property
    def seed(self) -> int:
        return self.section("seed")

    @property
    def demo(self) -> bool:
        return self.section("demo")

    def train_config(self, stage: str) -> TrainConfig:
        """Training settings of ``stage`` ('pretrain' or 'finetune'), which differ only in length."""
        t = self.section("train")
        aug, val = t["augment"], t["validation"]
        return TrainConfig(
            lr=t["lr"], batch_size=t["batch_size"], pos_weight=t["pos_weight"],
            dice_smooth=t["dice_smooth"], epochs=t[stage]["epochs"],
            max_steps=t[stage]["max_steps"], val_every=t["val_every"],
            checkpoint_every=t["checkpoint_every"], patience=t["patience"], amp=t["amp"],
            num_workers=t["num_workers"], log_every=t["log_every"],
            p_intensity=aug["p_intensity"], contrast=tuple(aug["contrast"]),
            brightness=tuple(aug["brightness"]), compile=t["compile"], deterministic=t["deterministic"],
            steps=t[stage]["steps"], optimizer=t["optimizer"], weight_decay=t["weight_decay"],
            lr_schedule=t["lr_schedule"], warmup=t["warmup"], sampling=t["sampling"],
            foreground_fraction=t["foreground_fraction"], val_crops=val["crops"],
            val_crop_size=self.val_crop_size, channels_last=t["channels_last"], cpu_precision=t["cpu_precision"],
            cuda_channels_last=t["cuda_channels_last"], cuda_precision=t["cuda_precision"],
            cuda_data_on_device=t["cuda_data_on_device"],
        )

    @property
    def val_crop_size(self) -> tuple[int, int, int]:
        """Validation crop (z, y, x): ``train.validation.size``, else the patch size; validation splits hold at least one."""
        size = self.section("train")["validation"]["size"]
        return tuple(size) if size else self.patch_size

    @property
    def hash(self) -> str:
        """Short hash of the (job) config, recorded in models and metrics."""
        return config_hash(self.raw)


def job_config(cfg: Config, *keys: str, tasks: Iterable[str] = (), datasets: Iterable[str] = ()) -> dict[str, Any]:
    """The part of ``cfg`` that one workflow job reads, as a plain sorted dict (a rule's params).

    ``keys`` are top-level keys or dotted paths into them (``"train.sampling"``); ``tasks``
    and ``datasets`` pick entries of ``tasks`` and ``datasets``. Snakemake reruns a job when
    this changes, and the job builds its :class:`Config` from it alone (:func:`job_view`), so
    a value it reads but did not declare fails loudly instead of going stale.
    """
    out: dict[str, Any] = {}
    for key in keys:
        head, *rest = key.split(".")
        value, node = cfg.raw[head], out
        for part in rest:
            node = node.setdefault(head, {})
            head, value = part, value[part]
        node[head] = value
    if tasks:
        out["tasks"] = {t: cfg.raw["tasks"][t] for t in tasks}
    if datasets:
        out["datasets"] = {d: cfg.raw["datasets"][d] for d in datasets}
    return json.loads(json.dumps(out, sort_keys=True))


def job_view(job: Mapping[str, Any]) -> Config:
    """The :class:`Config` of a job's config (:func:`job_config`), already validated by the workflow."""
    return Config(job)


def _range(r: list[int] | None) -> Range | None:
    if r is None:
        return None
    return (r[0], r[1], r[2] if len(r) == 3 else 1)


def _region(d: Mapping[str, Any]) -> Region:
    vols = d.get("volumes")
    return Region(*(_range(d.get(a)) for a in "zyx"), volumes=tuple(vols) if vols else None)


def _task(tid: str, t: Mapping[str, Any]) -> TaskSpec:
    folds = tuple((_region(f["train"]), _region(f["test"])) for f in t.get("folds", []))
    train, test = folds[0] if folds else (_region(t["train"]), _region(t["test"]) if "test" in t else None)
    labelled = frozenset(t["labelled_sections"]) if "labelled_sections" in t else None
    return TaskSpec(
        id=tid, dataset=t["dataset"], label=t["label"], train=train, test=test, val_axis=t["validation"]["axis"],
        val_fraction=t["validation"]["fraction"], preprocess=t["preprocess"],
        patch_stride=tuple(t["patch_stride"]) if "patch_stride" in t else None, folds=folds, labelled=labelled,
    )


ENGINES = ("auto", "torch", "onnxruntime", "openvino")
"""Values of ``prediction.engine`` (and ``vemtransfer predict --engine``); the schema lists the same."""
