"""The experiment config: its JSON schema, validation, recipes (named defaults layers), the typed
views jobs read, and the run grid (which models the experiment trains).

The public names of the views, validation and recipes are importable from here
(``from vemtransfer.config import Config, load_config``); the grid, the declared region checks,
preprocessing size rules and the synthetic tissues' objects from their modules.
"""

from vemtransfer.config.recipe import apply_recipe, recipe_defaults
from vemtransfer.config.validation import SCHEMA_PATH, load_config, validate_config
from vemtransfer.config.views import (
    DATASET_ID_PATTERN,
    ENGINES,
    NO_PRETRAIN,
    TASK_ID_PATTERN,
    Config,
    ConfigError,
    EvalConfig,
    Experiment,
    ModelConfig,
    Region,
    Scenario,
    TaskSpec,
    TrainConfig,
    job_config,
    job_view,
)

__all__ = [
    "DATASET_ID_PATTERN", "ENGINES", "NO_PRETRAIN", "SCHEMA_PATH", "TASK_ID_PATTERN", "Config", "ConfigError", "EvalConfig",
    "Experiment", "ModelConfig", "Region", "Scenario", "TaskSpec", "TrainConfig", "apply_recipe", "job_config", "job_view",
    "load_config", "recipe_defaults", "validate_config",
]
