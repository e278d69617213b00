"""Regions inside their volumes: what the sizes of a config's datasets tell before any job runs.

The schema knows a region only as ranges; whether they lie inside the volume depends on the
dataset. Unchecked, a z range past the last section is a numpy ``IndexError`` in a prepare job
(after the download, for a remote dataset) and a y/x range past the section edge is worse:
silently cut short. Sizes the config itself gives (a ``generated`` dataset's ``shape``, a
``section_files`` dataset's ``sections``, a task's ``resize_yx`` or ``crop_yx``) are checked by
:func:`declared_region_errors`, part of ``validate_config``; no file is read here
(:mod:`vemtransfer.data.file_checks` adds what the files of ``local`` datasets tell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vemtransfer.config.preprocess import resolve_preprocess
from vemtransfer.core.layout import MAIN


@dataclass(frozen=True)
class Extent:
    """What is known of a dataset's size without downloading it (``None``: unknown)."""

    sections: range | None = None
    """Section indices z of each volume."""
    section_yx: tuple[int, int] | None = None
    """Raw section shape (y, x)."""
    volumes: Mapping[str, range] | None = None
    """Section indices z per volume, where volumes differ (a local dataset's labelled blocks; a block
    that could not be read is absent)."""


def declared_region_errors(raw: Mapping[str, Any]) -> list[str]:
    """Regions against the sizes the config states itself (no file is read); one line per problem.

    ``raw`` has passed the schema (defaults filled); tasks naming an unknown dataset are skipped
    (``validate_config`` reports those).
    """
    return _local_spec_errors(raw) + extent_errors(raw, {name: declared_extent(spec) for name, spec in raw["datasets"].items()})


def _local_spec_errors(raw: Mapping[str, Any]) -> list[str]:
    """What a ``local`` dataset's blocks need of the rest of its spec and of the tasks, known without reading a file:
    a z-range block needs the dataset's image and labels, every block a task uses needs the task's label,
    and a whole-volume prediction (``recommend.predict``, Fig. 5) of a dataset of blocks needs its image."""
    errors, datasets = [], raw["datasets"]
    for name, spec in datasets.items():
        if spec["kind"] != "local":
            continue
        if "volumes" not in spec and not ("image" in spec and "labels" in spec):
            errors.append(f"datasets.{name}: give image and labels (or volumes: labelled blocks of the stack or of their own files)")
        for block, part in spec.get("volumes", {}).items():
            own = [key for key in ("image", "labels") if key in part]
            if "z" in part and own:
                errors.append(f"datasets.{name}.volumes.{block}: either z (sections of the dataset's image) or image and labels "
                              f"of its own, not both")
                continue
            if "z" not in part and len(own) < 2:
                errors.append(f"datasets.{name}.volumes.{block}: give z: [start, stop] (sections of the dataset's image) "
                              "or image and labels of its own")
                continue
            missing = [key for key in ("image", "labels") if "z" in part and key not in spec]  # own files need nothing of the stack
            if missing:
                errors.append(f"datasets.{name}.volumes.{block}.z: a z range of the dataset's {' and '.join(missing)}, "
                              f"which datasets.{name} does not give")
    predicted = [(f"recommend.tasks[{i}]", raw["tasks"][t]["dataset"]) for i, t in enumerate(raw["recommend"]["tasks"])
                 if raw["recommend"].get("predict") and t in raw["tasks"]]
    fig5 = raw.get("figures", {}).get("fig5")
    predicted += [("figures.fig5.dataset", fig5["dataset"])] if fig5 else []
    for where, name in predicted:
        spec = datasets.get(name, {})
        if spec.get("kind") == "local" and "volumes" in spec and "image" not in spec:
            errors.append(f"{where}: predicting dataset {name} needs its whole stack as datasets.{name}.image "
                          "(it has only labelled volumes); or set recommend.predict: false and use `vemtransfer predict`")
    for tid, task in raw["tasks"].items():
        spec = datasets.get(task["dataset"], {})
        if spec.get("kind") != "local":
            continue
        blocks = spec.get("volumes", {})
        used = {v for region in _task_regions(task) for v in region[1].get("volumes", blocks)} if blocks else set()
        owners = [(f"datasets.{task['dataset']}.volumes.{v}", blocks[v].get("labels", spec.get("labels", {}))) for v in sorted(used) if v in blocks]
        owners = owners or [(f"datasets.{task['dataset']}", spec.get("labels", {}))]
        for where, labels in owners:
            if task["label"] not in labels:
                errors.append(f"tasks.{tid}.label: {task['label']!r} is not among the labels of {where} ({', '.join(labels) or 'none'})")
    return errors


def _task_regions(task: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(key path under the task, region) of every train/test region of a task, each fold's included."""
    regions = [(k, task[k]) for k in ("train", "test") if k in task]
    return regions + [(f"folds[{i}].{k}", fold[k]) for i, fold in enumerate(task.get("folds", [])) for k in ("train", "test")]


def declared_extent(spec: Mapping[str, Any]) -> Extent:
    if spec["kind"] == "generated":
        z, y, x = spec["shape"]
        return Extent(range(z), (y, x))
    if spec["kind"] == "section_files":
        return Extent(range(*spec["sections"]) or None)  # an empty list is reported once, below
    return Extent()


def extent_errors(raw: Mapping[str, Any], extents: Mapping[str, Extent]) -> list[str]:
    """Empty section lists, then every region of the config (tasks' and Fig. 5's) against the extent of its dataset."""
    datasets, errors = raw["datasets"], []
    for name, spec in datasets.items():
        if spec["kind"] == "section_files" and not range(*spec["sections"]):
            errors.append(f"datasets.{name}.sections: {spec['sections']} holds no section (stop must exceed start)")
    for tid, task in raw["tasks"].items():
        if task["dataset"] in datasets:
            errors += _task_errors(f"tasks.{tid}", task, task["dataset"], datasets[task["dataset"]], extents[task["dataset"]])
    fig5 = raw.get("figures", {}).get("fig5")
    if fig5 and "z" in fig5 and fig5["dataset"] in datasets:
        errors += _axis_errors("figures.fig5.z", fig5["z"], extents[fig5["dataset"]].sections, fig5["dataset"])
    return errors + _test_section_errors(raw, extents)


def _test_sections(task: Mapping[str, Any], extent: Extent) -> int | None:
    """How many sections a task's test split has, where the config and the extent tell (the fewest of its folds')."""
    tests = [fold["test"] for fold in task.get("folds", [])] or ([task["test"]] if "test" in task else [])
    counts = []
    for region in tests:
        if "z" in region:
            counts.append(len(range(*region["z"])))
        elif extent.sections is not None and extent.volumes is None and "volumes" not in region:
            counts.append(len(extent.sections))
        else:
            return None
    return min(counts) if counts else None


def _test_section_errors(raw: Mapping[str, Any], extents: Mapping[str, Extent]) -> list[str]:
    """Sections of test splits that figures and baselines name (``figures.fig4.section``, ``baselines.sections``)
    inside the test split of every task they are used on: unchecked, a figure job fails with an IndexError
    after every model is trained, and a baseline silently scores fewer sections."""
    tasks, datasets, errors = raw["tasks"], raw["datasets"], []

    def count(tid: str) -> int | None:
        task = tasks.get(tid)
        return _test_sections(task, extents[task["dataset"]]) if task and task["dataset"] in datasets else None

    fig4 = raw.get("figures", {}).get("fig4")
    if fig4 and fig4.get("section") is not None:
        for i, pair in enumerate(fig4["pairs"]):
            n = count(pair["target"])
            if n is not None and fig4["section"] >= n:
                errors.append(f"figures.fig4.section: {fig4['section']} is past the {n} test sections of "
                              f"{pair['target']} (figures.fig4.pairs[{i}]); sections are counted from 0")
    b = raw.get("baselines") or {}
    if b.get("sections") is not None:
        used = [tid for model, methods in (("sam2", ("automatic", "boxes", "boxes_masks")), ("mitonet", ("zero_shot", "finetune")))
                if model in b for m in methods for tid in b[model][m]["tasks"]]
        for tid in dict.fromkeys(used):
            n, zs = count(tid), range(*b["sections"])
            if n is not None and zs and zs[-1] >= n:
                errors.append(f"baselines.sections: {b['sections']} reaches past the {n} test sections of {tid}; "
                              "sections are counted from 0")
    return errors


def _task_errors(where: str, task: Mapping[str, Any], dataset: str, spec: Mapping[str, Any], extent: Extent) -> list[str]:
    """Every train/test region of ``task`` (each fold's) and its crop against ``extent``, and its
    ``labelled_sections`` inside the volume (one inside it but outside every region is only unused:
    preparing warns).
    """
    regions = [(f"{where}.{key}", region) for key, region in _task_regions(task)]
    plane, errors = _prepared_plane(where, task.get("preprocess", {}), dataset, spec, extent)
    known = extent.sections if extent.volumes is None else (set().union(*extent.volumes.values()) if extent.volumes else None)
    outside = sorted(z for z in task.get("labelled_sections", []) if known is not None and z not in known)
    if outside:
        errors.append(f"{where}.labelled_sections: {outside} lie outside the sections of dataset {dataset}")
    volumes = list(spec.get("volumes", [MAIN]))
    for at, region in regions:
        if "z" in region and extent.volumes is not None:  # blocks of their own sizes: the range inside each block the region takes
            for volume in region.get("volumes", volumes):  # (a block whose file is unreadable is reported already)
                if volume in extent.volumes:
                    errors += _axis_errors(f"{at}.z", region["z"], extent.volumes[volume], f"{dataset}, volume {volume}")
        elif "z" in region:
            errors += _axis_errors(f"{at}.z", region["z"], extent.sections, dataset)
        for axis in "yx":
            if axis in region:
                errors += _axis_errors(f"{at}.{axis}", region[axis], plane, dataset)
        for i, volume in enumerate(region.get("volumes", [])):
            if volume not in volumes:
                errors.append(f"{at}.volumes[{i}]: {volume!r} is not a volume of dataset {dataset} ({', '.join(volumes)})")
    return errors


@dataclass(frozen=True)
class _Plane:
    """The (y, x) size of a task's prepared sections, which its regions' y/x index, and what sets it."""

    yx: tuple[int, int]
    basis: str


def _prepared_plane(where: str, pp: Mapping[str, Any], dataset: str, spec: Mapping[str, Any],
                    extent: Extent) -> tuple[_Plane | None, list[str]]:
    """The task's prepared plane where it can be known, or what keeps it from being prepared at all."""
    raw_yx = extent.section_yx
    if "voxel_yx_nm" in pp and "resize_yx" in pp:
        return None, [f"{where}.preprocess: give resize_yx (a size) or voxel_yx_nm (a pixel size to rescale to), not both"]
    if "crop_yx" in pp and raw_yx and any(c > s for c, s in zip(pp["crop_yx"], raw_yx)):
        return None, [f"{where}.preprocess.crop_yx: {pp['crop_yx']} is larger than the {raw_yx[0]} x {raw_yx[1]} sections of dataset {dataset}"]
    if "voxel_yx_nm" in pp:
        if not spec.get("voxel_nm"):
            return None, [f"{where}.preprocess.voxel_yx_nm: needs datasets.{dataset}.voxel_nm (the pixel size to rescale from)"]
        if raw_yx is None:
            return None, []
        size = resolve_preprocess(pp, spec["voxel_nm"], raw_yx)["resize_yx"]
        return _Plane(tuple(size), f"sections of dataset {dataset} rescaled to {pp['voxel_yx_nm']} nm pixels"), []
    for key in ("resize_yx", "crop_yx"):
        if key in pp:
            return _Plane(tuple(pp[key]), f"preprocess.{key}"), []
    return (_Plane(raw_yx, f"sections of dataset {dataset}") if raw_yx else None), []


def _axis_errors(where: str, r: Sequence[int], extent: range | _Plane | None, dataset: str) -> list[str]:
    """A [start, stop(, step)] range: not empty, and inside ``extent`` (the sections, or the prepared plane)."""
    indices = range(*r)
    if not indices:
        return [f"{where}: {list(r)} is empty (stop must exceed start)"]
    if isinstance(extent, _Plane):
        axis = "yx".index(where[-1])
        if indices[-1] >= extent.yx[axis]:
            return [f"{where}: {list(r)} reaches past the {extent.yx[axis]} {('rows', 'columns')[axis]} of the task's "
                    f"prepared sections ({extent.yx[0]} x {extent.yx[1]}: {extent.basis})"]
    elif extent is not None and not (indices[0] in extent and indices[-1] in extent):
        return [f"{where}: {list(r)} lies outside the {len(extent)} sections of dataset {dataset} (z from {extent.start} to {extent.stop - 1})"]
    return []
