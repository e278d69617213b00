"""Regions and labels against the files of ``local`` datasets, read from their headers.

What :func:`vemtransfer.config.checks.declared_region_errors` checks from the sizes a config states,
plus what only the files can tell: :func:`region_errors`, which ``vemtransfer validate`` runs, reads
the headers of ``local`` volumes and the first section of their labels (never more of the data), so
labels that are not 0/1 and have no ``threshold`` or ``values`` are found there, not in a prepare job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.config import Config, ConfigError, load_config, validate_config
from vemtransfer.config.checks import Extent, declared_extent, extent_errors
from vemtransfer.data.datasets.local import file_entries, label_mapping, label_path
from vemtransfer.data.volume_io import TIFF_SUFFIXES, open_volume


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
            extents[name] = declared_extent(spec)
    return errors + extent_errors(cfg.raw, extents)


def volume_header(path: str | Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of a volume in any format :func:`~vemtransfer.data.volume_io.open_volume` reads, from its header alone.

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


def check_config(config: Mapping[str, Any] | str | Path) -> Config:
    """The one check of a whole config, used by the workflow, the CLI and the benchmarks.

    ``config`` is a parsed config or the path of a YAML file. The schema, every cross-reference,
    the regions against the sizes the config states (:func:`~vemtransfer.config.validate_config`),
    then ``local`` volumes against their files (:func:`region_errors`); a :class:`ConfigError`
    lists every problem, each naming its key.
    """
    cfg = load_config(config) if isinstance(config, (str, Path)) else validate_config(config)
    errors = region_errors(cfg)
    if errors:
        where = f"{config}: " if isinstance(config, (str, Path)) else ""
        raise ConfigError(f"{where}invalid config:\n  " + "\n  ".join(errors))
    return cfg
