"""Regions inside their volumes: what the sizes of a config's datasets tell before any job runs.

The schema knows a region only as ranges; whether they lie inside the volume depends on the
dataset. Unchecked, a z range past the last section is a numpy ``IndexError`` in a prepare job
(after the download, for a remote dataset) and a y/x range past the section edge is worse:
silently cut short. Sizes the config itself gives (a ``generated`` dataset's ``shape``, a
``section_files`` dataset's ``sections``, a task's ``resize_yx`` or ``crop_yx``) are checked by
:func:`declared_region_errors`, part of ``validate_config``; :func:`region_errors`, which
``vemtransfer validate`` runs, also reads the headers of ``local`` volumes and the first section of
their labels (never more of the data): labels not 0/1 and not given a ``threshold`` or ``values`` are
found there, not in a prepare job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vemtransfer.datasets.local import file_entries, label_mapping, label_path
from vemtransfer.datasets.store import MAIN
from vemtransfer.volume_io import TIFF_SUFFIXES, open_volume

if TYPE_CHECKING:
    from vemtransfer.config import Config


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
    return _local_spec_errors(raw) + _errors(raw, {name: _declared_extent(spec) for name, spec in raw["datasets"].items()})


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


def region_errors(cfg: Config) -> list[str]:
    """Everything :func:`declared_region_errors` checks, plus ``local`` volumes read from their headers:
    readable, a uint8 (z, y, x) image, labels of its shape and, in their first section, of values 0/1
    or with a mapping to them, and every region inside it."""
    extents, errors = {}, []
    for name, spec in cfg.raw["datasets"].items():
        if spec["kind"] == "local":
            extents[name], problems = _local_extent(name, spec)
            errors += problems
        else:
            extents[name] = _declared_extent(spec)
    return errors + _errors(cfg.raw, extents)


def volume_header(path: str | Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of a volume in any format :func:`~vemtransfer.volume_io.open_volume` reads, from its header alone.

    A compressed TIFF stack is read whole by ``open_volume``; here only its page headers are.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]  # what tifffile.imread and memmap return
            shape = tuple(series.shape)
            return (1, *shape) if len(shape) == 2 else shape, str(series.dtype)  # a 2-D image is one section
    volume = open_volume(path)  # lazy: a folder reads its first section, .npy and Zarr only metadata, a PNG its one section
    return tuple(volume.shape), str(volume.dtype)


def read_one_section(path: str | Path, z: int = 0) -> np.ndarray:
    """Section ``z`` of a volume, reading no other (a compressed TIFF stack: that page only)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            volume = tifffile.memmap(path, mode="r")
        except ValueError:  # compressed or tiled
            return tifffile.imread(path, key=z)
        return np.asarray(volume if volume.ndim == 2 else volume[z])
    return np.asarray(open_volume(path)[z])


def label_value_error(section: np.ndarray, which: str = "the first section") -> str | None:
    """What is wrong with the values of a label section given as a plain path, with the mapping that
    would fix it; None if they are 0/1 (an empty section included)."""
    values = np.unique(section).tolist()
    if set(values) <= {0, 1}:
        return None
    shown = ", ".join(map(str, values[:6])) + (", ..." if len(values) > 6 else "")
    if len(values) == 2:
        fix = f"set threshold: {(values[0] + values[1]) // 2} or values: [{values[1]}]"
    else:
        fix = "set threshold: (object = value >= threshold) or values: [the object's values]"
    return f"values {{{shown}}} in {which}: {fix}"


def _declared_extent(spec: Mapping[str, Any]) -> Extent:
    if spec["kind"] == "generated":
        z, y, x = spec["shape"]
        return Extent(range(z), (y, x))
    if spec["kind"] == "section_files":
        return Extent(range(*spec["sections"]) or None)  # an empty list is reported once, below
    return Extent()


def _local_extent(name: str, spec: Mapping[str, Any]) -> tuple[Extent, list[str]]:
    """The extent of a local dataset from its headers, and what is wrong with them (the checks of ``open_local``):
    every file readable, images uint8 (z, y, x) of one section size, labels of their image's shape, z-range
    blocks inside the stack, and the first section of each unmapped label (of each block) 0/1."""
    at = f"datasets.{name}"
    headers, errors = {}, []
    for key, entry in file_entries(spec):
        try:
            headers[key] = volume_header(label_path(entry))
        except Exception as exc:  # tifffile, numpy and zarr raise several types on a missing or damaged file
            errors.append(f"{at}.{key}: cannot read {label_path(entry)}: {exc}")
    blocks = spec.get("volumes", {})
    parts = [("", spec)] if "image" in spec else []
    parts += [(f"volumes.{v}.", part) for v, part in blocks.items() if "image" in part]
    sizes: dict[str, tuple[int, ...]] = {}  # image key -> shape of a good image
    for prefix, part in parts:
        if f"{prefix}image" not in headers:
            continue
        shape, dtype = headers[f"{prefix}image"]
        if dtype != "uint8" or len(shape) != 3:
            errors.append(f"{at}.{prefix}image: expected a uint8 (z, y, x) volume, got {dtype} {shape}")
            continue
        sizes[prefix] = shape
        for label in part.get("labels", {}):
            key = f"{prefix}labels.{label}"
            if key in headers and headers[key][0] != shape:
                errors.append(f"{at}.{key}: shape {headers[key][0]} differs from the image's {shape}")
    planes = {shape[1:] for shape in sizes.values()}
    if len(planes) > 1:
        errors.append(f"{at}: the images' sections differ in size ({', '.join(f'{p}image {s[1:]}' for p, s in sizes.items())}); "
                      "a dataset's volumes must share one section size")
    ranges: dict[str, range] = {}
    for v, part in blocks.items():
        if "z" in part and "" in sizes:
            zs = range(*part["z"])
            if not zs or zs.stop > sizes[""][0]:
                errors.append(f"{at}.volumes.{v}.z: {part['z']} is not a range inside the {sizes[''][0]} sections of {spec['image']}")
            else:
                ranges[v] = zs
        elif f"volumes.{v}." in sizes:
            ranges[v] = range(sizes[f"volumes.{v}."][0])
    errors += _label_value_errors(at, spec, headers, ranges)
    yx = next(iter(planes)) if len(planes) == 1 else None
    stack = range(sizes[""][0]) if "" in sizes else None  # the whole stack: what Fig. 5 and predictions index
    return Extent(stack, yx, ranges if blocks else None), errors


def _label_value_errors(at: str, spec: Mapping[str, Any], headers: Mapping[str, Any], ranges: Mapping[str, range]) -> list[str]:
    """Unmapped labels whose first section (of the stack, or of each z-range block) is not 0/1."""
    checks = []  # (key, entry, section)
    blocks = spec.get("volumes", {})
    firsts = sorted({ranges[v].start for v, part in blocks.items() if "z" in part and v in ranges}) if blocks else [0]
    checks += [(f"labels.{k}", entry, z) for k, entry in spec.get("labels", {}).items() for z in firsts]
    checks += [(f"volumes.{v}.labels.{k}", entry, 0) for v, part in blocks.items() for k, entry in part.get("labels", {}).items()]
    errors = []
    for key, entry, z in checks:
        if key not in headers or label_mapping(entry):  # unreadable (reported) or mapped: any values become 0/1
            continue
        try:
            problem = label_value_error(read_one_section(label_path(entry), z), "the first section" if z == 0 else f"section {z}")
        except Exception as exc:  # as above: the header read, the data did not
            problem = f"cannot read section {z} of {label_path(entry)}: {exc}"
        if problem:
            errors.append(f"{at}.{key}: {problem}")
    return errors


def _errors(raw: Mapping[str, Any], extents: Mapping[str, Extent]) -> list[str]:
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
    return errors


def _task_errors(where: str, task: Mapping[str, Any], dataset: str, spec: Mapping[str, Any], extent: Extent) -> list[str]:
    """Every train/test region of ``task`` (each fold's) and its crop against ``extent``.

    ``labelled_sections`` are not checked: one outside every region is never prepared (preparing
    warns that it is unused), whether or not the volume has it.
    """
    regions = [(f"{where}.{key}", region) for key, region in _task_regions(task)]
    plane, errors = _prepared_plane(where, task.get("preprocess", {}), dataset, spec, extent)
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
    if "crop_yx" in pp and raw_yx and any(c > s for c, s in zip(pp["crop_yx"], raw_yx)):
        return None, [f"{where}.preprocess.crop_yx: {pp['crop_yx']} is larger than the {raw_yx[0]} x {raw_yx[1]} sections of dataset {dataset}"]
    if "voxel_yx_nm" in pp:
        if not spec.get("voxel_nm"):
            return None, [f"{where}.preprocess.voxel_yx_nm: needs datasets.{dataset}.voxel_nm (the pixel size to rescale from)"]
        if raw_yx is None:
            return None, []
        from vemtransfer.prepare import resolve_preprocess  # the rescaling rule itself (imported only when needed: it is heavy)

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
