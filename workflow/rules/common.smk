# Config validation, the path layout, rule params and input functions; no rules.
#
# Reruns follow the config and the code: every rule's params are job(...) below, the part of
# the config its job reads (`config`) and the digest of the package code its script runs
# (`code`). Snakemake reruns a job when either changes (and, by mtime, everything after it);
# `--rerun-triggers mtime` opts out.
import re
from pathlib import Path

from vemtransfer.baselines import rows as baseline_rows
from vemtransfer.config import DATASET_ID_PATTERN, NO_PRETRAIN, TASK_ID_PATTERN, grid, job_config
from vemtransfer.config import rungs as rung_grid
from vemtransfer.core.layout import Layout, zarr_marker
from vemtransfer.core.provenance import code_digest
from vemtransfer.data.datasets import DOWNLOAD_KINDS, needed_sections
from vemtransfer.data.datasets.local import local_files
from vemtransfer.data.file_checks import check_config

CFG = check_config(config)  # one clear error naming each bad key, local volumes read from their headers, before anything runs
EXP = CFG.experiment
L = Layout.of(CFG.raw)
DATASETS = CFG.raw["datasets"]
FIGS = CFG.raw.get("figures", {})
RECOMMEND = CFG.raw["recommend"]["tasks"]
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"

wildcard_constraints:
    task=TASK_ID_PATTERN,
    data=rf"{TASK_ID_PATTERN}(/fold\d+)?",
    target=TASK_ID_PATTERN,
    source=rf"{TASK_ID_PATTERN}|{NO_PRETRAIN}",
    dataset=DATASET_ID_PATTERN,
    budget=grid.BUDGET_PATTERN,
    rep=r"\d+",


def job(script, *keys, tasks=(), datasets=()):
    """A rule's params: ``config``, the part of the config its job reads (``keys``: top-level or
    dotted keys; ``tasks``/``datasets``: entries of ``tasks``/``datasets``; each a value or a
    function of the wildcards; a key function may return None), and ``code``, the digest of ``script`` and the package modules it imports."""

    def config_of(wildcards):
        pick = lambda x: x(wildcards) if callable(x) else x
        return job_config(CFG, *filter(None, map(pick, keys)), tasks=pick(tasks), datasets=pick(datasets))

    return {"config": config_of, "code": code_digest(SCRIPTS / script)}


def task_of(wildcards):
    """The task of a ``{task}``, ``{target}`` or ``{data}`` (task id, optionally /fold<k>) wildcard, as a list."""
    for name in ("task", "target"):
        if name in wildcards.keys():
            return [wildcards[name]]
    return [wildcards.data.split("/")[0]]


def dataset_of(wildcards):
    """The dataset (``datasets`` key) the task of the wildcards is cut from, as a list."""
    return [CFG.tasks[task_of(wildcards)[0]].dataset]


def dataset_inputs(dataset):
    """What reading ``dataset`` needs: its download manifest, a local volume's files, or nothing (generated)."""
    spec = DATASETS[dataset]
    if spec["kind"] == "local":
        return {"local": local_files(spec)}
    return {"manifest": L.manifest(dataset)} if spec["kind"] in DOWNLOAD_KINDS else {}


def task_dataset_inputs(wildcards):
    return dataset_inputs(dataset_of(wildcards)[0])


def task_data(task, rep):
    """The prepared data (data id) that repeat ``rep`` of ``task`` uses (its fold, for a task with folds)."""
    return CFG.tasks[task].data_id(int(rep))


def pretrained_model(wildcards):
    """The pretrained model a fine-tune starts from (same repeat), or nothing for NoPretrain."""
    if wildcards.source == NO_PRETRAIN:
        return []
    return [L.model(grid.pretrained_run(EXP, wildcards.source, int(wildcards.rep)).model_id)]


# The fast recommendation protocol's rungs (rungs.smk)
FAST = rung_grid.is_fast(CFG.raw)
RUNGS = rung_grid.rung_steps(CFG.raw)
RUNG_RUNS = rung_grid.rung_runs(EXP, RECOMMEND) if FAST else set()


def run_of(wildcards):
    return grid.Run(wildcards.source, wildcards.target, wildcards.budget, int(wildcards.rep))


def rung_inputs(run, rung):
    """What rung ``rung`` of ``run`` reads besides the data: the previous rung's folder files and survivors."""
    if rung == 1:
        return {}
    prev = rung_grid.rung_id(run, rung - 1)
    return {"previous": L.model(prev), "previous_history": L.history(prev), "previous_state": str(Path(L.model(prev)).parent / "state.pt"),
            "survivors": L.recommend(run.target, rung_grid.survivors_name(rung - 1))}


def last_rung_inputs(wildcards):
    """finetune_model's extra inputs when its run is the last rung of a fast-protocol fine-tune."""
    run = run_of(wildcards)
    return rung_inputs(run, len(RUNGS)) if run in RUNG_RUNS else {}


def rung_key(wildcards):
    """The config a rung job also reads (None for a run trained whole)."""
    return "recommend.rungs" if run_of(wildcards) in RUNG_RUNS else None


MODEL_ID = grid.MODEL_ID_PATTERN


def eval_target(wildcards):
    """The target task of a model id (pretrain/<task>/repN or finetune/<src>__<tgt>/<budget>/repN)."""
    return grid.Run.parse(wildcards.model_id).target


def eval_test(wildcards):
    """The prepared test split a model id is scored on (its target, at its repeat's fold), then the
    patch index beside it (which records the split's volume blocks: each is predicted alone)."""
    run = grid.Run.parse(wildcards.model_id)
    data = task_data(run.target, run.rep)
    return [*L.prepared(data, "test"), L.patch_index(data)]


def fig5_run(organelle):
    """The fine-tuned run whose model predicts ``organelle`` in Fig. 5."""
    names = list(FIGS["fig5"]["models"])
    return grid.figure_runs(FIGS, EXP)["fig5"][names.index(organelle)]


VOLUMES = (["fig5"] if "fig5" in FIGS else []) + list(RECOMMEND)


def volume_dataset(volume):
    """The dataset whose sections form a whole volume: Fig. 5's, or a recommend task's."""
    return FIGS["fig5"]["dataset"] if volume == "fig5" else CFG.tasks[volume].dataset


def recommend_candidates(task):
    """The runs a recommendation may choose for prediction: every source at the largest fraction."""
    top = grid.fraction_budget(max(EXP.fractions))
    return [run for run in grid.recommend_runs(EXP, task) if run.budget == top]


# Whole-volume predictions, blockwise: prediction.jobs block jobs (each gpu=1, run in parallel
# under a cluster profile), then one assembling job writes the OME-Zarr. A prediction's key
# is fig5-<organelle> or a recommend task; its store is the Fig. 5 or the recommend path.
PRED_JOBS = CFG.raw["prediction"]["jobs"]
PRED_STORES = {f"fig5-{o}": L.volume_prediction(o) for o in (FIGS["fig5"]["models"] if "fig5" in FIGS else [])}
PRED_STORES |= {task: L.recommend(task, "prediction.zarr") for task in RECOMMEND}
STORE_KEYS = {store: key for key, store in PRED_STORES.items()}


def prediction_volume(key):
    """The prepared volume (``volume`` wildcard of prepare_volume) a prediction key covers."""
    return "fig5" if key.startswith("fig5-") and key in PRED_STORES else key


def prediction_runs(key):
    """The candidate runs of a prediction: Fig. 5's one model, or every run a recommendation may choose."""
    if prediction_volume(key) == "fig5":
        return [fig5_run(key.removeprefix("fig5-"))]
    return recommend_candidates(key)


def prediction_models(key):
    """{models: candidate model files[, choice: chosen_model.json]} of a prediction key."""
    models = {"models": [L.model(run.model_id) for run in prediction_runs(key)]}
    return models if prediction_volume(key) == "fig5" else {**models, "choice": L.recommend(key, "chosen_model.json")}


def prediction_params(key):
    return {"key": key, "model_ids": [run.model_id for run in prediction_runs(key)]}


def shipped_file(path):
    """A file the config names: a relative path is looked up in the working directory, then beside
    the Snakefile (the shipped config/), so the shipped configs also run with --directory elsewhere."""
    path = Path(path)
    if not path.is_absolute() and not path.exists() and (Path(workflow.basedir) / path).exists():
        path = Path(workflow.basedir) / path
    return str(path)


def checksum_list(dataset):
    """{sha256sums: path} of a dataset that has a checksum list (editing it downloads and verifies again)."""
    spec = DATASETS[dataset]
    return {"sha256sums": shipped_file(spec["sha256sums"])} if "sha256sums" in spec else {}


def paper_results():
    """{paper: path} of the paper's published numbers, read by the tables (absent: no comparison)."""
    return {"paper": shipped_file(CFG.raw["paper_results"])} if CFG.raw["paper_results"] else {}


BASE_RES = CFG.raw["resources"]["baselines"]
BASELINES = CFG.raw.get("baselines")  # Table 3 (absent = no baselines)


def weights_name(model):
    return baseline_rows.weights_name(CFG.raw, model)


def mitonet_model(wildcards):
    """What segment_mitonet runs: the pretrained weights (mitonet_<s>x) or a fine-tuned model (mitonet-<set>_<s>x)."""
    patch_set = baseline_rows.parse_method(wildcards.method)["set"]
    return L.mitonet_model(patch_set, wildcards.task) if patch_set else L.weights(weights_name("mitonet"))


WEIGHTS = {weights_name(m): m for m in ("sam2", "mitonet") if m in BASELINES} if BASELINES else {}

TABLES = [L.table("table1.csv")] + ([L.table("table2.csv")] if EXP.targets else [])  # none: recommend tasks only
if BASELINES:
    TABLES.append(L.table("table3.csv"))
FIGURES = [L.figure("fig2.png")] if EXP.scenarios else []
FIGURES += [L.figure(f"{fig}.png") for fig in ("fig3", "fig4", "fig5") if fig in FIGS]
if "fig5" in FIGS:
    FIGURES += [L.volume_mesh(name) for name in FIGS["fig5"]["models"]]
TABLES += [L.recommend(task, "recommendation.md") for task in RECOMMEND]
# the test scores of every model a recommendation may choose, for its model card (export)
TABLES += [L.metrics(run.model_id) for task in RECOMMEND if CFG.tasks[task].test is not None for run in recommend_candidates(task)]
if CFG.raw["recommend"]["predict"]:
    TABLES += [zarr_marker(L.recommend(task, "prediction.zarr")) for task in RECOMMEND]
    TABLES += [L.recommend(task, "morphometrics.csv") for task in RECOMMEND]
    if CFG.raw["recommend"]["meshes"]:
        TABLES += [L.recommend(task, "prediction.ply") for task in RECOMMEND]
