"""Load and validate an experiment config, then expose it as views (frozen dataclasses).

Validation happens once, before Snakemake schedules anything, so a typo in a key, an
unknown task id or a fraction outside (0, 1] is one clear error naming the key instead of
a failure hours into a run. The JSON schema (``config.schema.yaml`` beside this module) is
the single description of every key and default; each workflow job then receives only the
part it reads (:func:`job_config`), which is what Snakemake compares to decide a rerun.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from vemtransfer.provenance import config_hash

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")
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


RECIPES_DIR = Path(__file__).with_name("recipes")
RECIPE_SECTIONS = ("patches", "model", "train", "evaluation")
"""The config sections a recipe may set; a recipe is a defaults layer under the config's own values."""


def recipe_defaults(name: str) -> dict[str, Any]:
    """The values recipe ``name`` sets (``paper``: none, the schema's defaults are the paper's)."""
    if name == "paper":
        return {}
    path = RECIPES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(["paper", *sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))])
        raise ConfigError(f"recipe: unknown recipe {name!r}; recipes are {known}")
    recipe = yaml.safe_load(path.read_text()) or {}
    extra = sorted(set(recipe) - set(RECIPE_SECTIONS))
    if extra:
        raise ConfigError(f"{path}: a recipe sets only {', '.join(RECIPE_SECTIONS)}, not {', '.join(extra)}")
    return recipe


ATOMIC = {("train", "pretrain"), ("train", "finetune")}
"""Recipe values the config replaces whole: a training length is epochs (+ max_steps) or steps, never a mix."""


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key (except :data:`ATOMIC` ones), anything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        nested = isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and (*path, key) not in ATOMIC
        out[key] = _deep_merge(out[key], value, (*path, key)) if nested else copy.deepcopy(value)
    return out


def apply_recipe(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The config with its recipe's values filled in wherever it does not set them itself."""
    name = raw.get("recipe", "paper")
    if not isinstance(name, str):
        raise ConfigError(f"recipe: expected a recipe name, got {name!r}")
    recipe = recipe_defaults(name)
    return {**raw, **{k: _deep_merge(recipe[k], raw.get(k) or {}, (k,)) for k in recipe}}


def _extend_with_default(validator_class: type) -> type:
    """A validator that also fills in each property's ``default`` (python-jsonschema FAQ)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _extend_with_default(jsonschema.Draft202012Validator)


def _where(path: Iterator[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _schema_errors(raw: dict) -> list[str]:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    errors = sorted(_Validator(schema).iter_errors(raw), key=lambda e: list(map(str, e.path)))
    return [line for e in errors for line in _error_lines(e)]


def _error_lines(e: jsonschema.ValidationError) -> list[str]:
    """A schema error in words, one line per problem: each unexpected key with the keys allowed
    there (a dataset's by its kind), a bad id with the rule it breaks, a bad choice with the choices."""
    where = _where(e.path)
    if e.validator == "additionalProperties" and e.validator_value is False and "properties" in e.schema:
        allowed = e.schema["properties"]
        kind = allowed.get("kind", {}).get("const")
        takes = f"kind {kind} takes" if kind else "keys here are"
        return [f"{where}: unexpected key {key!r} ({takes}: {', '.join(allowed)})" for key in e.instance if key not in allowed]
    if "propertyNames" in e.schema_path and e.validator == "pattern":
        examples = ", ".join(e.schema.get("examples", []))
        return [f"{where}: {e.instance!r} is not a valid {e.schema.get('title', 'key')}: it must match "
                f"{e.validator_value.strip('^$')}" + (f" (e.g. {examples})" if examples else "")]
    if e.validator == "enum":
        return [f"{where}: {e.instance!r} is not one of {', '.join(map(str, e.validator_value))}"]
    return [f"{where}: {e.message}"]


def _reference_errors(raw: dict) -> list[str]:
    """Cross-references the schema cannot express: task ids, dataset names, labels, regions inside the sizes the config states."""
    tasks, datasets, exp = raw["tasks"], raw["datasets"], raw["experiment"]
    errors = []
    known = ", ".join(sorted(tasks))
    for key in ("sources", "targets"):
        for i, tid in enumerate(exp[key]):
            if tid not in tasks:
                errors.append(f"experiment.{key}[{i}]: unknown task id {tid!r}; tasks are {known}")
    for i, sc in enumerate(exp["scenarios"]):
        for key, allowed in (("source", exp["sources"]), ("target", exp["targets"])):
            if sc[key] not in allowed:
                errors.append(
                    f"experiment.scenarios[{i}].{key}: {sc[key]!r} is not in experiment.{key}s"
                )
    for i, tid in enumerate(raw["recommend"]["tasks"]):
        if tid not in tasks:
            errors.append(f"recommend.tasks[{i}]: unknown task id {tid!r}; tasks are {known}")
    figs = raw.get("figures", {})
    pairs = [("figures.fig3", figs["fig3"])] if "fig3" in figs else []
    pairs += [(f"figures.fig4.pairs[{i}]", p) for i, p in enumerate(figs.get("fig4", {}).get("pairs", []))]
    pairs += [(f"figures.fig5.models.{k}", p) for k, p in figs.get("fig5", {}).get("models", {}).items()]
    for where, pair in pairs:
        for key in ("source", "target"):
            if pair[key] not in tasks and not (key == "source" and pair[key] == NO_PRETRAIN):
                errors.append(f"{where}.{key}: unknown task id {pair[key]!r}; tasks are {known}")
    if "fig5" in figs and figs["fig5"]["dataset"] not in datasets:
        errors.append(f"figures.fig5.dataset: unknown dataset {figs['fig5']['dataset']!r}")
    for tid, models in raw["pretrained"].items():
        if tid not in exp["sources"]:
            errors.append(f"pretrained.{tid}: not one of experiment.sources ({', '.join(exp['sources'])})")
        elif isinstance(models, list) and len(models) != exp["repeats"]:
            errors.append(f"pretrained.{tid}: {len(models)} models for {exp['repeats']} repeats (give one, or one per repeat)")
    b = raw.get("baselines") or {}
    lists = [(f"baselines.sam2.{m}", b["sam2"][m]) for m in ("automatic", "boxes", "boxes_masks")] if "sam2" in b else []
    lists += [(f"baselines.mitonet.{m}", b["mitonet"][m]) for m in ("zero_shot", "finetune")] if "mitonet" in b else []
    for where, part in lists + [("baselines.pixel_classifier", b.get("pixel_classifier", {"tasks": []}))]:
        for i, tid in enumerate(part["tasks"]):
            if tid not in tasks:
                errors.append(f"{where}.tasks[{i}]: unknown task id {tid!r}; tasks are {known}")
    if "mitonet" in b and b["mitonet"]["finetune"]["tasks"] and not b["mitonet"]["finetune"]["sets"]:
        errors.append("baselines.mitonet.finetune.sets: fine-tuning tasks are listed but no patch set")
    if not exp["targets"] and not raw["recommend"]["tasks"]:
        errors.append("experiment.targets: empty, and no recommend.tasks either: nothing would be fine-tuned")
    errors += _needs_errors(raw, exp, lists)
    errors += _train_errors(raw)
    for tid, task in tasks.items():
        if "folds" in task and ("train" in task or "test" in task):
            errors.append(f"tasks.{tid}: give either train/test or folds, not both")
        if task["dataset"] not in datasets:
            errors.append(f"tasks.{tid}.dataset: unknown dataset {task['dataset']!r}")
            continue
        spec = datasets[task["dataset"]]
        if spec["kind"] == "generated":
            from vemtransfer.synthetic import OBJECTS

            if task["label"] not in OBJECTS[spec["tissue"]]:
                errors.append(
                    f"tasks.{tid}.label: {task['label']!r} is not an object of tissue "
                    f"{spec['tissue']!r} ({', '.join(OBJECTS[spec['tissue']])})"
                )
    from vemtransfer.config_checks import declared_region_errors  # imported here: it imports the datasets package, which imports this module

    return errors + declared_region_errors(raw)


def _needs_errors(raw: dict, exp: dict, baseline_lists: list[tuple[str, list]]) -> list[str]:
    """Tasks used where they cannot serve: scored without a test region, or shown/prompted with sparse labels."""
    tasks, figs = raw["tasks"], raw.get("figures", {})
    uses = [(f"experiment.targets[{i}]", tid) for i, tid in enumerate(exp["targets"])]
    shown = [("figures.fig3.target", figs["fig3"]["target"])] if "fig3" in figs else []
    shown += [(f"figures.fig4.pairs[{i}].target", p["target"]) for i, p in enumerate(figs.get("fig4", {}).get("pairs", []))]
    shown += [(f"{where}.tasks[{i}]", tid) for where, part in baseline_lists for i, tid in enumerate(part["tasks"])]
    errors = []
    for where, tid in uses + shown:
        task = tasks.get(tid)
        if task is not None and "folds" not in task and "test" not in task:
            errors.append(f"{where}: task {tid} has no test region to score on (give tasks.{tid}.test, or use it under recommend only)")
    for where, tid in shown:
        if "labelled_sections" in tasks.get(tid, {}):
            errors.append(f"{where}: task {tid} is sparsely labelled (labelled_sections); figures and baselines need every section labelled")
    return errors


def _train_errors(raw: dict) -> list[str]:
    """Network and training settings that only make sense together."""
    widths, train = raw["model"]["widths"], raw["train"]
    errors = []
    if raw["model"]["planar_levels"] > len(widths) - 1:
        errors.append(f"model.planar_levels: {raw['model']['planar_levels']} exceeds the {len(widths) - 1} levels of widths {widths}")
    divisor = 2 ** (len(widths) - 2)
    crops = [("patches.size", raw["patches"]["size"])]
    if train["validation"]["size"]:
        crops.append(("train.validation.size", train["validation"]["size"]))
    for where, size in crops:
        if size[1] % divisor or size[2] % divisor:
            errors.append(f"{where}: y and x ({size[1]}, {size[2]}) must be multiples of {divisor} ({len(widths) - 2} poolings of model.widths)")
    for stage in ("pretrain", "finetune"):
        if train[stage]["steps"] is not None and train[stage]["max_steps"] is not None:
            errors.append(f"train.{stage}: give steps (a fixed length) or max_steps (a cap on epochs), not both")
    if train["foreground_fraction"] and train["sampling"] != "random":
        errors.append("train.foreground_fraction: needs sampling: random (tiles are taken as tiled)")
    if train["warmup"] and train["lr_schedule"] == "constant":
        errors.append("train.warmup: needs lr_schedule: cosine")
    return errors


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


RENAMED = "`sources` is now `datasets` (raw data); `source` means a pretraining task only"
"""Why a config written before the rename fails: the raw inputs and the pretraining tasks were both "source"."""


def _renamed_keys(raw: Mapping[str, Any]) -> list[str]:
    """The keys of an old config that name raw data by "source", one line each.

    Checked before the schema so that an old config gets this one explanation instead of an
    unexpected-key error for every task. ``experiment.sources`` and the (source, target) pairs
    of scenarios and figures are pretraining tasks and keep their name.
    """
    lines = ["sources: rename to datasets"] if "sources" in raw else []
    tasks = raw.get("tasks")
    old = [tid for tid, t in tasks.items() if isinstance(t, Mapping) and "source" in t] if isinstance(tasks, Mapping) else []
    if old:
        more = len(old) - 1
        lines.append(f"tasks.{old[0]}.source" + (f" (and {more} more task{'s' * (more > 1)})" if more else "")
                     + ": rename to dataset (the key of datasets the task is cut from)")
    figs = raw.get("figures")
    fig5 = figs.get("fig5") if isinstance(figs, Mapping) else None
    if isinstance(fig5, Mapping) and "source" in fig5:
        lines.append("figures.fig5.source: rename to dataset (the key of datasets whose volume is predicted)")
    return lines


def _moved_keys(raw: Mapping[str, Any]) -> list[str]:
    """Keys that moved to another section, one line each (checked with :func:`_renamed_keys`)."""
    figs = raw.get("figures")
    if isinstance(figs, Mapping) and "chunk" in figs:
        return ["figures.chunk: move to prediction.chunk (every whole-volume prediction's settings are under prediction)"]
    return []


def validate_config(raw: Mapping[str, Any]) -> Config:
    """Check ``raw`` against the schema and cross-references; return it as a :class:`Config`.

    Raises :class:`ConfigError` listing every problem, each prefixed by its key path; a config
    that still uses the old names (:func:`_renamed_keys`) gets only those.
    """
    renamed, moved = _renamed_keys(raw), _moved_keys(raw)
    if renamed or moved:
        parts = ([f"config uses the old names: {RENAMED}", *renamed] if renamed else []) + (["config uses moved keys:", *moved] if moved else [])
        raise ConfigError("\n  ".join(parts).replace("\n  config uses", "\nconfig uses"))
    raw = apply_recipe(copy.deepcopy(dict(raw)))
    errors = _schema_errors(raw)
    if not errors:
        errors = _reference_errors(raw)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    return Config(raw)


def load_config(path: str | Path) -> Config:
    """Read a YAML config file and validate it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return validate_config(raw)
