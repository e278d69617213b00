"""A training plan per prepared task, derived from its fingerprint and written down as data.

nnU-Net's fingerprint -> plans, for this project's network and recipes. The recipe (``cpu``,
``paper``) stays the named starting point; the plan adapts to the volume what the recipe
fixed for the volume it was tuned on:

- **window** (y, x): about ``plan.fov_objects`` object diameters (90th percentile) wide, a
  multiple of 32 (and of the network's pooling divisor), within [``min_window``,
  ``max_window``] and small enough that a batch keeps at least ``min_batch`` windows;
  **depth** 1 when labelled sections have no real neighbours (isolated sections: a 2-D
  network of the same family, which never reads across sections), else the recipe's.
- **planar levels** from the anisotropy (nnU-Net's rule: no z-convolution while the in-plane
  pixel of a level is under half the section thickness); every level for depth-1 windows.
- **batch** keeps the recipe's voxels per step (so its measured time per step), **steps**
  fill ``plan.minutes`` if given, else the recipe's training lengths.
- **sampling**: the share of windows centred on foreground grows as foreground gets rarer.
- **normalisation**: the fixed uint8 -> [-1, 1] scale after CLAHE (what pretrained models saw).

How plan and config interact, choice by choice: a value under ``plan:`` (pinned) wins; else a
config value that differs from the recipe's (``patches.size: [1, 256, 256]`` in a ``recipe:
cpu`` config) is kept; else the planned value. Every choice records which of the three it is
and why. ``plan.apply: false`` (the default) writes ``plan.json`` but trains with the recipe
and config as they are.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vemtransfer.config import Config, recipe_defaults
from vemtransfer.config.validation import load_schema
from vemtransfer.core.storage import write_json
from vemtransfer.planning.fingerprint import fingerprint, has_neighbours

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
PLAN_VERSION = 1
WINDOW_STEP = 32
"""Planned window sides are multiples of this (and of the pooling divisor): few distinct windows, stable plans."""
SECONDS_PER_MVOXEL_STEP = 1.9
"""Training seconds per million window voxels per step on 2 CPU cores (the CPU recipe: 9 x 3 x 128^2 in ~0.85 s/step,
benchmarks/README.md); an estimate used only to turn ``plan.minutes`` into steps."""
CHOICE_KEYS = {
    "window": ("patches", "size"),
    "planar_levels": ("model", "planar_levels"),
    "batch_size": ("train", "batch_size"),
    "foreground_fraction": ("train", "foreground_fraction"),
    "validation_size": ("train", "validation", "size"),
}
"""Each plan choice and the config key it fills."""


def _get(raw: Mapping[str, Any], path: Sequence[str]) -> Any:
    for part in path:
        raw = raw[part]
    return raw


def _schema_default(path: Sequence[str]) -> Any:
    node = load_schema()
    for part in path:
        node = node["properties"][part]
    return node.get("default")


def recipe_value(recipe: str, path: Sequence[str]) -> Any:
    """What recipe ``recipe`` sets at ``path`` (the schema's default where it sets nothing: the paper's)."""
    try:
        return _get(recipe_defaults(recipe), path)
    except KeyError:
        return _schema_default(path)


def _choice(value: Any, by: str, reason: str) -> dict[str, Any]:
    return {"value": value, "by": by, "reason": reason}


def _owned(raw: Mapping[str, Any], name: str, path: Sequence[str]) -> dict[str, Any] | None:
    """The choice when the config decides it: pinned under ``plan:``, or set unlike the recipe."""
    pinned = raw.get("plan", {}).get(name)
    if pinned not in (None, "auto"):
        return _choice(pinned, f"plan.{name}", f"pinned in the config (plan.{name})")
    value = _get(raw, path)
    if value != recipe_value(raw.get("recipe", "paper"), path):
        key = ".".join(path)
        return _choice(value, key, f"the config sets {key} (the {raw.get('recipe', 'paper')} recipe's differs)")
    return None


def _round_window(target: float, divisor: int, lo: int, hi: int) -> int:
    step = math.lcm(WINDOW_STEP, divisor)
    return int(min(max(step * math.ceil(target / step), lo), hi) // step * step) or step


def _window(fp: Mapping[str, Any], raw: Mapping[str, Any], start: Sequence[int], divisor: int) -> dict[str, Any]:
    p = raw["plan"]
    depth, why_depth = (start[0], f"the recipe's depth {start[0]}: labelled sections have neighbours "
                                  f"(blocks of >= {fp['smallest_labelled_block']} sections, neighbour correlation {fp['neighbour_correlation']})")
    if not has_neighbours(fp):
        depth, why_depth = 1, (f"isolated labelled sections (smallest block {fp['smallest_labelled_block']} section(s), neighbour "
                               f"correlation {fp['neighbour_correlation']}): a 2-D window that reads no invented neighbour")
    d90 = fp["diameter_px"]["p90"]
    base_voxels = math.prod(start) * recipe_value(raw.get("recipe", "paper"), ("train", "batch_size"))
    fit = math.floor(math.sqrt(base_voxels / (p["min_batch"] * depth)))  # largest square side keeping min_batch windows per step
    hi = min(p["max_window"], fit, *(s // divisor * divisor for s in fp["section_yx"]))
    if d90 is None:
        side, why = min(start[1], hi), "no labelled objects to measure: the recipe's side"
    else:
        side = _round_window(p["fov_objects"] * d90, divisor, p["min_window"], hi)
        why = (f"{p['fov_objects']} x the 90th-percentile object diameter ({d90} px) = {p['fov_objects'] * d90:.0f} px, "
               f"rounded up to a multiple of {math.lcm(WINDOW_STEP, divisor)} within [{p['min_window']}, {hi}]")
    return _choice([depth, side, side], "plan", f"depth {depth}: {why_depth}; y/x {side}: {why}")


def _planar_levels(fp: Mapping[str, Any], raw: Mapping[str, Any], depth: int, levels: int) -> dict[str, Any]:
    if depth == 1:
        return _choice(levels, "plan", f"depth-1 windows: in-plane convolutions at all {levels} levels (a 2-D network)")
    voxel = fp["voxel_nm"]
    if not voxel:
        start = recipe_value(raw.get("recipe", "paper"), ("model", "planar_levels"))
        return _choice(start, "plan", "voxel size unknown: the recipe's")
    planar = min(levels, sum(1 for i in range(levels) if voxel[1] * 2**i < voxel[0] / 2))
    return _choice(planar, "plan", f"{voxel[1]:g} nm pixels, {voxel[0]:g} nm sections: levels whose pixel (x 2 per level) "
                                   f"stays under half the section thickness convolve in-plane only")


def _batch(raw: Mapping[str, Any], window: Sequence[int]) -> dict[str, Any]:
    recipe = raw.get("recipe", "paper")
    start, batch = recipe_value(recipe, ("patches", "size")), recipe_value(recipe, ("train", "batch_size"))
    voxels = math.prod(start) * batch
    planned = max(1, round(voxels / math.prod(window)))
    return _choice(planned, "plan", f"the {recipe} recipe's {voxels / 1e6:.2f} M voxels per step ({batch} x {'x'.join(map(str, start))}) "
                                    f"in {'x'.join(map(str, window))} windows: its time per step")


def _steps(raw: Mapping[str, Any], window: Sequence[int], batch: int) -> dict[str, Any]:
    minutes = raw["plan"]["minutes"]
    pinned = raw["plan"]["steps"]
    if pinned:
        return _choice({"steps": pinned}, "plan.steps", "pinned in the config (plan.steps)")
    if not minutes:
        return _choice(None, "recipe", "the config's training lengths (train.pretrain, train.finetune): no plan.minutes")
    per_step = SECONDS_PER_MVOXEL_STEP * batch * math.prod(window) / 1e6
    steps = max(1, int(minutes * 60 / per_step))
    return _choice({"steps": steps}, "plan", f"{minutes} min at an estimated {per_step:.2f} s/step (2 CPU cores)")


def _foreground(fp: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    if raw["train"]["sampling"] != "random":
        return _choice(raw["train"]["foreground_fraction"], "config", "tiles sampling takes the tiles as tiled")
    fg = fp["foreground_fraction"]
    share = 0.5 if fg < 0.1 else 0.33 if fg < 0.3 else 0.0
    return _choice(share, "plan", f"foreground is {100 * fg:.1f} % of the labelled voxels: "
                                  + ("half the windows centred on it" if share == 0.5 else "a third centred on it" if share else "uniform windows see enough"))


def _validation(raw: Mapping[str, Any], window: Sequence[int]) -> dict[str, Any]:
    size = raw["train"]["validation"]["size"] or window
    return _choice([window[0], *size[1:]], "plan", f"validation crops as deep as the window ({window[0]}), the config's y/x")


def make_plan(fp: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """The plan of a task from its fingerprint and the (job) config ``raw`` (recipe applied)."""
    widths = raw["model"]["widths"]
    divisor, levels = 2 ** (len(widths) - 2), len(widths) - 1
    start = recipe_value(raw.get("recipe", "paper"), ("patches", "size"))
    choices: dict[str, Any] = {}
    choices["window"] = _owned(raw, "window", CHOICE_KEYS["window"]) or _window(fp, raw, start, divisor)
    window = choices["window"]["value"]
    choices["planar_levels"] = _owned(raw, "planar_levels", CHOICE_KEYS["planar_levels"]) or _planar_levels(fp, raw, window[0], levels)
    choices["batch_size"] = _owned(raw, "batch_size", CHOICE_KEYS["batch_size"]) or _batch(raw, window)
    choices["steps"] = _steps(raw, window, choices["batch_size"]["value"])
    choices["foreground_fraction"] = _owned(raw, "foreground_fraction", CHOICE_KEYS["foreground_fraction"]) or _foreground(fp, raw)
    choices["validation_size"] = _owned(raw, "validation_size", CHOICE_KEYS["validation_size"]) or _validation(raw, window)
    choices["normalisation"] = _choice("fixed", "plan", f"CLAHE-equalised sections (mean {fp['intensity']['mean']}, std "
                                                        f"{fp['intensity']['std']}) scaled (x - 127.5) / 127.5, as every pretrained model saw them")
    return {"version": PLAN_VERSION, "task": fp["task"], "fold": fp["fold"], "apply": bool(raw["plan"]["apply"]),
            "recipe": raw.get("recipe", "paper"), "choices": choices, "fingerprint": dict(fp)}


def plan_errors(plan: Mapping[str, Any], widths: Sequence[int]) -> list[str]:
    """Choices the network cannot run (a pinned window off the pooling grid, too many planar levels)."""
    c, divisor = plan["choices"], 2 ** (len(widths) - 2)
    errors = [f"{name}: y/x {c[name]['value'][1:]} must be multiples of {divisor}" for name in ("window", "validation_size")
              if any(v % divisor for v in c[name]["value"][1:])]
    if not 0 <= c["planar_levels"]["value"] <= len(widths) - 1:
        errors.append(f"planar_levels: {c['planar_levels']['value']} outside [0, {len(widths) - 1}]")
    return errors


def plan_task(task_dir: str | Path, raw: Mapping[str, Any], voxel_nm: Sequence[float] | None, out: str | Path | None = None) -> dict[str, Any]:
    """Fingerprint the prepared task in ``task_dir``, plan it and write ``plan.json`` (``out``, default beside it)."""
    plan = make_plan(fingerprint(task_dir, voxel_nm), raw)
    errors = plan_errors(plan, raw["model"]["widths"])
    if errors:
        raise ValueError(f"{task_dir}: the plan cannot run: " + "; ".join(errors))
    write_json(out or Path(task_dir) / PLAN_FILE, plan)
    return plan


def read_plan(path: str | Path) -> dict[str, Any]:
    """A ``plan.json``; clear error if it is from another version."""
    plan = json.loads(Path(path).read_text())
    if plan.get("version") != PLAN_VERSION:
        raise ValueError(f"{path}: plan version {plan.get('version')}, expected {PLAN_VERSION}: plan the task again")
    return plan


def apply_plan(cfg: Config, plan: Mapping[str, Any] | None, init_planar_levels: int | None = None) -> Config:
    """``cfg`` with the plan's choices in the keys they fill (``cfg`` itself without a plan or with ``apply`` false).

    ``init_planar_levels``: the architecture of the model a fine-tune starts from, which wins
    over the target's plan (weights move only between networks of the same shape).
    """
    if not plan or not plan["apply"]:
        return cfg
    raw = copy.deepcopy(dict(cfg.raw))
    for name, path in CHOICE_KEYS.items():
        node = raw
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = copy.deepcopy(plan["choices"][name]["value"])
    if plan["choices"]["steps"]["value"] is not None:
        raw["train"]["pretrain"] = raw["train"]["finetune"] = copy.deepcopy(plan["choices"]["steps"]["value"])
    if init_planar_levels is not None and init_planar_levels != raw["model"]["planar_levels"]:
        log.info("planar_levels %d of the initial model kept (the plan's: %d)", init_planar_levels, raw["model"]["planar_levels"])
        raw["model"]["planar_levels"] = init_planar_levels
    return Config(raw)


def window_cells(origins: Sequence[tuple[int, ...]], blocks: Sequence[int] | None, depth: int) -> list[tuple[int, ...]]:
    """The budget cells in volume blocks at least ``depth`` sections thick (a window never straddles two)."""
    if not blocks:
        return list(origins)
    ends = [sum(blocks[: i + 1]) for i in range(len(blocks))]
    thick = [b >= depth for b in blocks]
    return [o for o in origins if thick[next(i for i, e in enumerate(ends) if o[0] < e)]]


def describe(plan: Mapping[str, Any]) -> str:
    """The plan as text, one line per choice with its reason."""
    lines = [f"plan of {plan['task']}" + (f" fold {plan['fold']}" if plan["fold"] else "")
             + f" ({'applied' if plan['apply'] else 'not applied: plan.apply is false'}; recipe {plan['recipe']})"]
    for name, c in plan["choices"].items():
        lines.append(f"  {name}: {json.dumps(c['value'])}  [{c['by']}] {c['reason']}")
    return "\n".join(lines)


def model_window(model_file: str | Path, default: Sequence[int]) -> tuple[int, int, int]:
    """The window a model was trained with (recorded by training; its plan's), else ``default`` (imported models)."""
    from vemtransfer.model.checkpoint import read_model_file  # torch only where a model is read

    return tuple(read_model_file(model_file).get("patch_size") or default)
