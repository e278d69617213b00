"""Datasets, the config's raw data: fetch them once, then read them section by section.

Every dataset kind (one module each) does two things:

* ``fetch(name, spec, raw_dir, needed)``: download what the tasks need (``needed`` maps a
  volume to the section indices used by any task's train/test region), verify it, and
  store it in the uniform *section store* of :mod:`vemtransfer.data.datasets.store`; returns the
  download manifest records.
* open the store lazily (:class:`~vemtransfer.data.datasets.store.SectionStore`), so preparing a
  task reads one section at a time and never holds a 12000 x 8000 x 180 stack in memory.

The synthetic ``generated`` kind is generated in memory and the ``local`` kind (a lab's own
volume) is read from disk: neither is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vemtransfer.config import Config
from vemtransfer.data.datasets.store import IMAGE, MAIN, Sections, SectionStore

DOWNLOAD_KINDS = ("zenodo_file", "http_files", "empiar_slices", "zenodo_record", "section_files")

Needed = Mapping[str, Mapping[str, "list[int] | None"]]
"""Per volume, per kind (``image`` or a label name), the section indices some task uses;
``None`` for every section. Volumes and kinds no task uses are absent."""


def _need(kinds: dict[str, set[int] | None], kind: str, z: tuple[int, ...] | None, only: frozenset[int] | None = None) -> None:
    """Add the sections of range ``z`` (None: all sections), or of them those in ``only``, to what ``kind`` needs."""
    if kinds.get(kind, set()) is None:
        return
    if z is None and only is None:
        kinds[kind] = None
    else:
        zs = set(range(*z)) if z is not None else set(only)  # type: ignore[arg-type]
        kinds.setdefault(kind, set()).update(zs & only if only is not None else zs)  # type: ignore[union-attr]


def needed_sections(cfg: Config, dataset: str) -> dict[str, dict[str, list[int] | None]]:
    """What the configured tasks (and Fig. 5) need of ``dataset``: {volume: {kind: sorted indices or None}}."""
    spec = cfg.raw["datasets"][dataset]
    needed: dict[str, dict[str, set[int] | None]] = {}
    for task in cfg.tasks.values():
        if task.dataset != dataset:
            continue
        for region in task.regions():
            for v in region.volumes or tuple(spec.get("volumes", [MAIN])):
                _need(needed.setdefault(v, {}), IMAGE, region.z)
                _need(needed[v], task.label, region.z, task.labelled)  # a sparse task: its labelled sections only
    fig5 = cfg.raw.get("figures", {}).get("fig5")
    if fig5 and fig5["dataset"] == dataset:  # the whole volume of Fig. 5: images only
        _need(needed.setdefault(MAIN, {}), IMAGE, fig5.get("z"))
    return {v: {k: None if z is None else sorted(z) for k, z in kinds.items()} for v, kinds in needed.items()}


def fetch_dataset(name: str, spec: Mapping[str, Any], raw_dir: str | Path, needed: Needed) -> list[dict[str, Any]]:
    """Download and verify dataset ``name`` into ``raw_dir``; returns the manifest records."""
    kind = spec["kind"]
    if kind not in DOWNLOAD_KINDS:
        raise ValueError(f"dataset {name!r} is {kind}, there is nothing to download")
    module = _module(kind)
    return module.fetch(name, spec, Path(raw_dir), needed)


def open_dataset(name: str, spec: Mapping[str, Any], raw_dir: str | Path) -> Sections:
    """Sections of a fetched (or generated, or local) dataset, read lazily."""
    if spec["kind"] == "generated":
        from vemtransfer.data.datasets.generated import generate

        return generate(spec)
    if spec["kind"] == "local":
        from vemtransfer.data.datasets.local import open_local

        return open_local(spec)
    return SectionStore(Path(raw_dir))


def open_whole_volume(name: str, spec: Mapping[str, Any], raw_dir: str | Path) -> Sections:
    """What a whole-volume prediction of ``name`` reads: the dataset itself, or for a ``local`` dataset
    made of labelled blocks (``volumes``) the stack given as its ``image``."""
    if spec["kind"] == "local" and "volumes" in spec:
        from vemtransfer.data.datasets.local import open_local_stack

        return open_local_stack(spec)
    return open_dataset(name, spec, raw_dir)


def _module(kind: str) -> Any:
    from vemtransfer.data.datasets import empiar, github, section_files, zenodo

    modules = {"zenodo_file": zenodo, "zenodo_record": zenodo, "http_files": github, "empiar_slices": empiar,
               "section_files": section_files}
    if kind not in modules:
        raise ValueError(f"unknown dataset kind {kind!r}; known: {', '.join(DOWNLOAD_KINDS)}")
    return modules[kind]
