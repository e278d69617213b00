# Config validation, paths and input functions; no rules.
import re
from pathlib import Path

from vemtransfer import design
from vemtransfer.baselines import design as baselines_design
from vemtransfer.config import NO_PRETRAIN, validate_config
from vemtransfer.sources import DOWNLOAD_KINDS, needed_sections

CFG = validate_config(config)  # one clear error naming the key, before anything runs
EXP = CFG.experiment
R = CFG.raw["results_dir"]
RES = CFG.raw["resources_dir"]
LOGS = CFG.raw["logs_dir"]
SOURCES = CFG.raw["sources"]

wildcard_constraints:
    task=r"[A-Za-z0-9]+-[A-Za-z]+",
    data=r"[A-Za-z0-9]+-[A-Za-z]+(/fold\d+)?",
    target=r"[A-Za-z0-9]+-[A-Za-z]+",
    source=r"[A-Za-z0-9]+(-[A-Za-z]+)?",
    budget=r"p\d+|f[0-9.]+",
    rep=r"\d+",


def prepared(data, *splits):
    """The prepared files of dataset ``data`` (``TaskSpec.data_id``) for ``splits`` (image + label each)."""
    return [f"{RES}/prepared/{data}/{s}.{kind}.npy" for s in splits for kind in ("image", "label")]


def patch_index(data):
    """The patches.json of dataset ``data``, written last by prepare_task (it marks the dataset done)."""
    return f"{RES}/prepared/{data}/patches.json"


def task_data(task, rep):
    """The prepared dataset that repeat ``rep`` of ``task`` uses (its fold, for a task with folds)."""
    return CFG.tasks[task].data_id(int(rep))


def metrics_path(run):
    return f"{R}/metrics/{run.model_id}.json"


def prediction(run):
    """The Zarr test-volume prediction of a run's model (Figs. 3-4)."""
    return f"{R}/predictions/{run.model_id}/test.zarr"


def source_manifest(name):
    """What preparing from a source reads: its download manifest, a local volume's files, or nothing (generated)."""
    spec = SOURCES[name]
    if spec["kind"] == "local":
        return [spec["image"], *spec["labels"].values()]
    return [f"{RES}/raw/{name}/manifest.json"] if spec["kind"] in DOWNLOAD_KINDS else []


def source_inputs(wildcards):
    """The source of a ``{task}`` or ``{data}`` (task id, optionally /fold<k>) wildcard."""
    task = wildcards.task if "task" in wildcards.keys() else wildcards.data.split("/")[0]
    return source_manifest(CFG.tasks[task].source)


def pretrained_model(wildcards):
    """The pretrained model a fine-tune starts from (same repeat), or nothing for NoPretrain."""
    if wildcards.source == NO_PRETRAIN:
        return []
    run = design.pretrained_run(EXP, wildcards.source, int(wildcards.rep))
    return [f"{R}/models/{run.model_id}/model.pt"]


MODEL_ID = r"pretrain/[^/]+/rep\d+|finetune/[^/]+__[^/]+/[^/]+/rep\d+"


def fig5_run(organelle):
    """The fine-tuned run whose model predicts ``organelle`` in Fig. 5."""
    names = list(CFG.raw["figures"]["fig5"]["models"])
    return design.figure_runs(CFG.raw["figures"], EXP)["fig5"][names.index(organelle)]


def eval_target(wildcards):
    """The target task of a model id (pretrain/<task>/repN or finetune/<src>__<tgt>/<budget>/repN)."""
    kind, name = wildcards.model_id.split("/")[:2]
    return name if kind == "pretrain" else name.split("__")[1]


def eval_data(wildcards):
    """The prepared dataset a model id is scored on (its target, at its repeat's fold)."""
    return task_data(eval_target(wildcards), wildcards.model_id.rsplit("rep", 1)[1])


VOLUMES = (["fig5"] if "fig5" in CFG.raw["figures"] else []) + list(CFG.raw["recommend"]["tasks"])


def volume_source(volume):
    """The source whose sections form a whole volume: Fig. 5's, or a recommend task's."""
    return CFG.raw["figures"]["fig5"]["source"] if volume == "fig5" else CFG.tasks[volume].source


def task_prediction_inputs(wildcards):
    """The chosen-model JSON, every candidate model it may name (largest fraction) and the prepared volume."""
    top = design.fraction_budget(max(EXP.fractions))
    runs = [run for run in design.recommend_runs(EXP, wildcards.task) if run.budget == top]
    return {"choice": f"{R}/{wildcards.task}/chosen_model.json", "models": [f"{R}/models/{run.model_id}/model.pt" for run in runs],
            "image": f"{RES}/prepared/volumes/{wildcards.task}.image.npy"}


def checksum_list(dataset):
    """{sha256sums: path} of a source that has a checksum list: a relative path is looked up in
    the working directory, then beside the Snakefile (the shipped config/), so the shipped
    configs also run with --directory elsewhere."""
    spec = CFG.raw["sources"][dataset]
    if "sha256sums" not in spec:
        return {}
    path = Path(spec["sha256sums"])
    if not path.is_absolute() and not path.exists() and (Path(workflow.basedir) / path).exists():
        path = Path(workflow.basedir) / path
    return {"sha256sums": str(path)}


BASE_RES = CFG.raw["resources"]["baselines"]
BASELINES = CFG.raw.get("baselines")  # Table 3 (absent = no baselines)


def weights_path(model):
    return str(baselines_design.weights_file(CFG.raw, model))


WEIGHTS = {baselines_design.weights_file(CFG.raw, m).name: m for m in ("sam2", "mitonet")} if BASELINES else {}


def raw_split(task, split):
    """A task's region at the raw resolution (the baselines' input; baselines_design.raw_split_dir)."""
    return prepared(f"{task}/raw", split)


def table3_inputs(wildcards):
    rows = baselines_design.rows(CFG.raw)
    out = {"metrics": [str(baselines_design.metrics_file(CFG.raw, r.task, r.method)) for r in rows]}
    if baselines_design.ours_rows(CFG.raw):
        out["long"] = f"{R}/tables/table2_long.csv"
    return out


TABLES = [f"{R}/tables/table1.csv"] + ([f"{R}/tables/table2.csv"] if EXP.targets else [])  # none: recommend tasks only
if BASELINES:
    TABLES.append(f"{R}/tables/table3.csv")
FIGURES = [f"{R}/figures/fig2.png"] if EXP.scenarios else []
for _fig in ("fig3", "fig4", "fig5"):
    if _fig in CFG.raw.get("figures", {}):
        FIGURES.append(f"{R}/figures/{_fig}.png")
TABLES += [f"{R}/{task}/recommendation.md" for task in CFG.raw["recommend"]["tasks"]]
if "fig5" in CFG.raw.get("figures", {}):
    FIGURES += [f"{R}/meshes/{name}.ply" for name in CFG.raw["figures"]["fig5"]["models"]]
if CFG.raw["recommend"]["predict"]:
    TABLES += [f"{R}/{task}/prediction.zarr" for task in CFG.raw["recommend"]["tasks"]]
    if CFG.raw["recommend"]["meshes"]:
        TABLES += [f"{R}/{task}/prediction.ply" for task in CFG.raw["recommend"]["tasks"]]
