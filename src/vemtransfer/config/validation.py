"""Validation of a whole config: schema (with defaults filled), cross-references, renamed keys.

Validation happens once, before Snakemake schedules anything, so a typo in a key, an unknown
task id or a fraction outside (0, 1] is one clear error naming the key instead of a failure hours
into a run. The JSON schema (``config.schema.yaml`` beside this module) is the single description
of every key and default.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from vemtransfer.config.checks import declared_region_errors
from vemtransfer.config.recipe import apply_recipe
from vemtransfer.config.tissues import OBJECTS
from vemtransfer.config.views import NO_PRETRAIN, Config, ConfigError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")
"""The JSON schema (YAML): every key, its type, default and description; the config reference is generated from it."""


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


@functools.cache
def load_schema() -> dict[str, Any]:
    """The schema, parsed once per process (read-only: validation and the plans' defaults only look)."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _schema_errors(raw: dict) -> list[str]:
    schema = load_schema()
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
    if e.validator in ("anyOf", "oneOf") and all(set(sub) == {"required"} for sub in e.validator_value):
        keys = [" and ".join(sub["required"]) for sub in e.validator_value]
        return [f"{where}: give {' or '.join(keys)}" + (" (only one)" if e.validator == "oneOf" else "")]
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
    errors += _rung_errors(raw)
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
            if task["label"] not in OBJECTS[spec["tissue"]]:
                errors.append(
                    f"tasks.{tid}.label: {task['label']!r} is not an object of tissue "
                    f"{spec['tissue']!r} ({', '.join(OBJECTS[spec['tissue']])})"
                )
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


def _rung_errors(raw: dict) -> list[str]:
    """The fast recommendation protocol needs increasing rungs and at least 2 repeats (paired intervals)."""
    rec = raw["recommend"]
    if rec["protocol"] != "fast" or not rec["tasks"]:
        return []
    errors = []
    if list(rec["rungs"]) != sorted(rec["rungs"]):
        errors.append(f"recommend.rungs: {rec['rungs']} must increase (steps at the end of each rung)")
    if (rec["repeats"] or raw["experiment"]["repeats"]) < 2:
        errors.append("recommend.protocol: fast prunes on paired 95 % intervals, which need recommend.repeats >= 2")
    for i, tid in enumerate(rec["tasks"]):
        if tid in raw["experiment"]["targets"]:
            errors.append(f"recommend.tasks[{i}]: {tid} is also an experiment target, whose runs train whole; "
                          "the fast protocol needs a task of its own (or recommend.protocol: full)")
    return errors
