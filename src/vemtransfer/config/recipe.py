"""Recipes: named layers of defaults (``recipe: cpu``) under a config's own values.

A recipe sets only the sections that say how to train (:data:`RECIPE_SECTIONS`); the config's
own values win key by key, except training lengths (:data:`ATOMIC`), which are replaced whole so
that a config's ``steps`` never mixes with a recipe's ``epochs``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from vemtransfer.config.views import ConfigError

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
