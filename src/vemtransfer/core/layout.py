"""Every file the workflow writes, in one place.

The rules (``workflow/rules/common.smk``) build their inputs and outputs from a
:class:`Layout`, the CLI finds a run's files through it, and job functions receive the
paths Snakemake gives them; nothing else composes a path. Arguments may be Snakemake
wildcards (``"{task}"``): every method is plain string formatting.

Names: a *dataset* is a key of the config's ``datasets`` (raw data); a *data id* is what a
task is prepared as (the task id, or ``<task>/fold<k>``); a *model id* is
:attr:`vemtransfer.config.grid.Run.model_id` (``pretrain/<task>/rep<r>`` or
``finetune/<source>__<target>/<budget>/rep<r>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPLITS = ("train", "val", "test")
PATCH_INDEX = "patches.json"
ZARR_MARKER = "zarr.json"
MAIN = "main"
"""Volume name of single-volume datasets."""


def zarr_marker(store: str) -> str:
    """What a rule declares for a Zarr store it writes: the store's root metadata file.

    A ``directory()`` output would make Snakemake put a ``.snakemake_timestamp`` file inside
    the store, which Zarr readers and viewers report as an unknown object."""
    return f"{store}/{ZARR_MARKER}"


def zarr_store(marker: str | Path) -> Path:
    """The store of a :func:`zarr_marker` path."""
    path = Path(marker)
    if path.name != ZARR_MARKER:
        raise ValueError(f"{marker} is not a Zarr store's {ZARR_MARKER}")
    return path.parent


def split_files(folder: str | Path, split: str) -> tuple[Path, Path]:
    """The image and label ``.npy`` of ``split`` in a prepared data folder."""
    folder = Path(folder)
    return folder / f"{split}.image.npy", folder / f"{split}.label.npy"


@dataclass(frozen=True)
class Layout:
    """Paths under the three roots of a config (``results_dir``, ``resources_dir``, ``logs_dir``)."""

    results: str = "results"
    resources: str = "resources"
    logs: str = "logs"

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Layout:
        return cls(str(raw["results_dir"]), str(raw["resources_dir"]), str(raw["logs_dir"]))

    # --- resources: downloads and prepared data -------------------------------------------
    def raw_dir(self, dataset: str) -> str:
        """A downloaded dataset's verified files."""
        return f"{self.resources}/raw/{dataset}"

    def manifest(self, dataset: str) -> str:
        """Written last by ``download_dataset``: its presence means the download is complete."""
        return f"{self.raw_dir(dataset)}/manifest.json"

    def prepared_dir(self, data: str) -> str:
        return f"{self.resources}/prepared/{data}"

    def prepared(self, data: str, *splits: str) -> list[str]:
        """The image and label ``.npy`` of each split of prepared data ``data`` (a data id)."""
        return [str(f) for s in splits for f in split_files(self.prepared_dir(data), s)]

    def patch_index(self, data: str) -> str:
        """Written last by ``prepare_task`` (it marks the prepared data done)."""
        return f"{self.prepared_dir(data)}/{PATCH_INDEX}"

    def plan(self, data: str) -> str:
        """Written by ``plan_task``: the prepared data's fingerprint and training plan."""
        return f"{self.prepared_dir(data)}/plan.json"

    def raw_split(self, task: str, *splits: str) -> list[str]:
        """A task's regions at the raw resolution (the baselines' input)."""
        return self.prepared(f"{task}/raw", *splits)

    def volume_image(self, volume: str) -> str:
        """A whole preprocessed volume to predict: ``fig5`` or a recommend task."""
        return f"{self.resources}/prepared/volumes/{volume}.image.npy"

    def volume_info(self, volume: str) -> str:
        return f"{self.resources}/prepared/volumes/{volume}.json"

    def weights(self, name: str) -> str:
        """A baseline's downloaded weights file."""
        return f"{self.resources}/weights/{name}"

    # --- results ------------------------------------------------------------------------
    def model(self, model_id: str) -> str:
        return f"{self.results}/models/{model_id}/model.pt"

    def history(self, model_id: str) -> str:
        return f"{self.results}/models/{model_id}/history.json"

    def metrics(self, model_id: str) -> str:
        return f"{self.results}/metrics/{model_id}.json"

    def test_prediction(self, model_id: str) -> str:
        """A model's test-volume prediction (Figs. 3-4)."""
        return f"{self.results}/predictions/{model_id}/test.zarr"

    def volume_prediction(self, organelle: str) -> str:
        """The Fig. 5 volume predicted by its ``organelle`` model."""
        return f"{self.results}/predictions/volume/{organelle}.zarr"

    def prediction_blocks(self, key: str, job: int | str) -> str:
        """Job ``job``'s partial sums of a blockwise whole-volume prediction (temporary):
        ``key`` is ``fig5-<organelle>`` or a recommend task."""
        return f"{self.results}/predictions/blocks/{key}/job{job}"

    def volume_mesh(self, organelle: str) -> str:
        return f"{self.results}/meshes/{organelle}.ply"

    def table(self, name: str) -> str:
        return f"{self.results}/tables/{name}"

    def figure(self, name: str) -> str:
        return f"{self.results}/figures/{name}"

    def recommend(self, task: str, name: str) -> str:
        """A recommend task's outputs: ``recommendation.md``/``.csv``, ``learning_curve.png``,
        ``chosen_model.json``, ``prediction.zarr``, ``prediction.ply``, ``morphometrics.csv``/``.json``,
        ``size_distribution.png``."""
        return f"{self.results}/recommend/{task}/{name}"

    def baseline_metrics(self, task: str, method: str) -> str:
        """A Table 3 baseline's metrics; its prediction is the ``.npz`` beside it."""
        return f"{self.results}/baselines/{task}/{method}.json"

    def baseline_prediction(self, task: str, method: str) -> str:
        return f"{self.results}/baselines/{task}/{method}.npz"

    def mitonet_model(self, patch_set: str, task: str) -> str:
        """MitoNet fine-tuned on ``patch_set`` of ``task``; its summary is the ``.json`` beside it."""
        return f"{self.results}/models/baselines/mitonet-{patch_set}/{task}.pth"

    def mitonet_summary(self, patch_set: str, task: str) -> str:
        return f"{self.results}/models/baselines/mitonet-{patch_set}/{task}.json"

    # --- logs ---------------------------------------------------------------------------
    def log(self, rule: str, name: str) -> str:
        """Job ``name``'s log, in a folder named after its rule."""
        return f"{self.logs}/{rule}/{name}.log"

    def benchmark(self, rule: str, name: str) -> str:
        return f"{self.logs}/{rule}/{name}.benchmark.tsv"
