"""prepare_task and prepare_volume: raw sections to the prepared arrays the models read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vemtransfer.config import Config
from vemtransfer.config.preprocess import prepared_voxel_nm, resolve_preprocess
from vemtransfer.core.seeds import job_seed
from vemtransfer.core.storage import npy_section_writer, write_json
from vemtransfer.data.datasets import open_dataset, open_whole_volume
from vemtransfer.data.datasets.store import Sections
from vemtransfer.data.prepare import prepare_task, preprocess_image


def _raw_dir(manifest: str | Path | None) -> Path:
    """Where a downloaded dataset lies: the folder of its manifest (generated and local ones have none)."""
    return Path(manifest).parent if manifest else Path(".")


def dataset_sections(cfg: Config, dataset: str, manifest: str | Path | None) -> Sections:
    """The sections of ``dataset``: read from its download (the folder of ``manifest``), generated or local."""
    return open_dataset(dataset, cfg.section("datasets")[dataset], _raw_dir(manifest))


def prepare_task_job(cfg: Config, data_id: str, manifest: str | Path | None, patch_index: str | Path) -> dict[str, Any]:
    """Write the prepared splits and ``patch_index`` of ``data_id`` (a task id, or ``<task>/fold<k>``)
    into the patch index's folder."""
    task = cfg.tasks[data_id.split("/")[0]].for_data(data_id)
    spec = cfg.section("datasets")[task.dataset]
    return prepare_task(task, dataset_sections(cfg, task.dataset, manifest), Path(patch_index).parent, cfg.patch_size,
                        task.patch_stride or cfg.patch_stride, job_seed(cfg.seed, "subsets", data_id), voxel_nm=spec.get("voxel_nm"),
                        fold=task.fold_of_data(data_id), val_size=cfg.val_crop_size, cells=cfg.section("train")["sampling"] == "random")


def volume_spec(cfg: Config, volume: str) -> tuple[str, list[int] | None, dict[str, Any]]:
    """(dataset, z range or None for all sections, preprocessing) of a whole volume to predict:
    ``fig5`` (the Fig. 5 volume) or a task id (its dataset's whole volume, the task's preprocessing)."""
    if volume == "fig5":
        spec = cfg.section("figures")["fig5"]
        return spec["dataset"], spec.get("z"), spec["preprocess"]
    task = cfg.tasks[volume]
    return task.dataset, None, task.preprocess


def prepare_volume_job(cfg: Config, volume: str, manifest: str | Path | None, out_npy: str | Path, out_json: str | Path) -> dict[str, Any]:
    """Preprocess a whole volume section by section (crop/resize, CLAHE + blur) into one uint8 .npy.

    The JSON beside it records the prepared voxel size (nm), from which meshes are scaled.
    """
    dataset, z, pp = volume_spec(cfg, volume)
    spec = cfg.section("datasets")[dataset]
    sections = open_whole_volume(dataset, spec, _raw_dir(manifest))
    if len(sections.volumes()) != 1:
        raise ValueError(f"{volume}: whole-volume prediction needs a single-volume dataset; {dataset} has {list(sections.volumes())}")
    name = sections.volumes()[0]
    zs = list(range(*z)) if z else sections.indices(name)
    first = sections.image(name, zs[0])  # sizes the preprocessing; written below without a second read
    raw_shape = first.shape
    pp = resolve_preprocess(pp, spec.get("voxel_nm"), raw_shape)
    with npy_section_writer(out_npy, len(zs)) as append:
        for i, zi in enumerate(zs):
            append(preprocess_image(first if i == 0 else sections.image(name, zi), pp))
    z_step = z[2] if z and len(z) == 3 else 1
    info = {"volume": volume, "dataset": dataset, "sections": len(zs), "z_step": z_step, "raw_section_shape": list(raw_shape),
            "voxel_nm": list(prepared_voxel_nm(spec["voxel_nm"], raw_shape, z_step, pp)) if spec.get("voxel_nm") else None}
    write_json(out_json, info)
    return info
