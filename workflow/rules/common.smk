# Config validation, paths and input functions; no rules.
from vemtransfer import design
from vemtransfer.config import NO_PRETRAIN, validate_config

CFG = validate_config(config)  # one clear error naming the key, before anything runs
EXP = CFG.experiment
R = CFG.raw["results_dir"]
RES = CFG.raw["resources_dir"]
LOGS = CFG.raw["logs_dir"]
SOURCES = CFG.raw["sources"]

wildcard_constraints:
    task=r"[A-Za-z0-9]+-[A-Za-z]+",
    target=r"[A-Za-z0-9]+-[A-Za-z]+",
    source=r"[A-Za-z0-9]+(-[A-Za-z]+)?",
    budget=r"p\d+|f[0-9.]+",
    rep=r"\d+",


def prepared(task, *splits):
    """The prepared files of ``task`` for ``splits`` (image + label each)."""
    return [f"{RES}/prepared/{task}/{s}.{kind}.npy" for s in splits for kind in ("image", "label")]


def metrics_path(run):
    return f"{R}/metrics/{run.model_id}.json"


def source_inputs(wildcards):
    """A task's download manifest, or nothing for generated (synthetic) sources."""
    name = CFG.tasks[wildcards.task].source
    if SOURCES[name]["kind"] == "generated":
        return []
    return [f"{RES}/raw/{name}/manifest.json"]


def pretrained_model(wildcards):
    """The pretrained model a fine-tune starts from (same repeat), or nothing for NoPretrain."""
    if wildcards.source == NO_PRETRAIN:
        return []
    return [f"{R}/models/pretrain/{wildcards.source}/rep{wildcards.rep}/model.pt"]


def eval_target(wildcards):
    """The target task of a model id (pretrain/<task>/repN or finetune/<src>__<tgt>/<budget>/repN)."""
    kind, name = wildcards.model_id.split("/")[:2]
    return name if kind == "pretrain" else name.split("__")[1]


TABLES = [f"{R}/tables/table1.csv", f"{R}/tables/table2.csv"]
FIGURES = [f"{R}/figures/fig2.png"] if EXP.scenarios else []
