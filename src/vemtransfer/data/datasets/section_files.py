"""Plain files under one base URL: per-section images and labels, or a label volume.

Small public volumes are often published as one image file per section (``{z}`` in the
name, numbered from 0 or from any offset: the FlyEM medulla's ``iso.2600.png`` ...) with
per-section label images (the Drosophila VNC's mitochondria PNGs) or one label volume (the
medulla's gzipped HDF5 of supervoxel ids plus a supervoxel -> body table). The host
publishes no checksums, so the config pins the files: ``base_url`` names a commit and a
``sha256sum``-format file lists the sha256 of every file a task may need, each download is
verified against it, and a needed file without an entry is an error before anything is
fetched. Only the sections the tasks use are fetched (a label volume is one file, fetched
whole); each is decoded into the section store and the downloaded file is deleted.

Layers (``image`` and each label) are either a *series* (``pattern`` with ``{z}``, the file
of section ``z`` being ``pattern.format(z=z + z_offset)``) or, for labels, a *volume*
(``file``: HDF5, gzip-compressed if it ends in ``.gz``; ``dataset`` indexed (z, y, x);
optional ``lookup``: an (N, 2) dataset mapping the stored ids to the ids wanted, applied per
section). A label series with ``threshold`` is binarised to 0/1 as it is stored
(:func:`~vemtransfer.data.datasets.common.binarise_mask`); otherwise ids are stored as they are and
the task's ``label_rule`` applies when preparing.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import requests

from vemtransfer.data.datasets.common import binarise_mask, decode_image, progress, select
from vemtransfer.data.datasets.store import IMAGE, MAIN, write_section
from vemtransfer.data.download import download

DOWNLOADS = "downloads"
"""Folder of ``raw_dir`` that holds each file between its download and its conversion (and failed ``.part`` files)."""
_SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def read_sha256sums(path: str | Path) -> dict[str, str]:
    """{relative path: sha256} from a ``sha256sum``-format file (``./`` prefixes dropped)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"checksum file {path} not found (a relative path is read from the working directory)") from None
    sums = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _SUM_LINE.fullmatch(line.rstrip())
        if match is None:
            raise ValueError(f"{path}:{n}: not a sha256sum line ('<64 hex>  <path>'): {line!r}")
        sums[match[2].removeprefix("./")] = match[1].lower()
    return sums


def series_file(layer: Mapping[str, Any], z: int) -> str:
    """The file (relative to the base URL) of section ``z`` of a series layer."""
    return layer["pattern"].format(z=z + layer.get("z_offset", 0))


def _needed_files(layers: Mapping[str, Mapping[str, Any]], zs: Mapping[str, list[int]]) -> list[str]:
    """Every file (relative to the base URL) that sections ``zs`` of ``layers`` come from, once each."""
    files: list[str] = []
    for kind, sections in zs.items():
        layer = layers[kind]
        files += [series_file(layer, z) for z in sections] if "pattern" in layer else [layer["file"]]
    return list(dict.fromkeys(files))


def fetch(name: str, spec: Mapping[str, Any], raw_dir: Path, needed: Mapping[str, Mapping[str, list[int] | None]]) -> list[dict[str, Any]]:
    """Fetch the sections ``needed`` of every layer, verified against the dataset's sha256sums file."""
    layers = {IMAGE: spec["image"], **spec["labels"]}
    wanted = needed.get(MAIN, {})
    unknown = sorted(set(wanted) - set(layers))
    if unknown:
        raise ValueError(f"dataset {name!r} has no {unknown} labels (has {sorted(spec['labels'])})")
    available = range(*spec["sections"])
    zs = {kind: select(available, z) for kind, z in wanted.items()}
    sums = read_sha256sums(spec["sha256sums"])
    missing = [f for f in _needed_files(layers, zs) if f not in sums]
    if missing:
        raise ValueError(f"dataset {name!r}: {spec['sha256sums']} has no sha256 for {len(missing)} needed "
                         f"file(s), e.g. {missing[:3]}; add a line '<sha256>  <path>' for each")
    with _Fetcher(spec["base_url"].rstrip("/"), sums, raw_dir) as fetcher:
        shapes = fetcher.images(spec["image"], zs.get(IMAGE, []))
        for label in spec["labels"]:
            if label in zs:
                store = fetcher.label_series if "pattern" in layers[label] else fetcher.label_volume
                store(label, layers[label], zs[label], shapes)
    shutil.rmtree(raw_dir / DOWNLOADS, ignore_errors=True)  # every file in it was stored and deleted
    return fetcher.records


class _Fetcher:
    """Downloads verified files of one dataset into its section store, recording each."""

    def __init__(self, base: str, sums: Mapping[str, str], raw_dir: Path) -> None:
        self.base, self.sums, self.raw_dir = base, sums, raw_dir
        self.records: list[dict[str, Any]] = []
        self.session = requests.Session()

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def _download(self, rel: str, **extra: Any) -> tuple[str, Path]:
        """Fetch ``rel``, sha256-verified, into ``downloads/``; record it; the caller deletes it once stored."""
        url = f"{self.base}/{rel}"
        record = download(url, self.raw_dir / DOWNLOADS / rel, sha256=self.sums[rel], session=self.session, progress=False)
        self.records.append({"url": url, "size": record["size"], "sha256": record["sha256"], **extra})
        return url, Path(record["path"])

    def _section(self, kind: str, layer: Mapping[str, Any], z: int) -> tuple[str, bytes, np.ndarray]:
        """(url, bytes, decoded array in native byte order) of section ``z`` of a series layer."""
        url, path = self._download(series_file(layer, z), kind=kind, section=z)
        data = path.read_bytes()
        path.unlink()
        array = decode_image(data, url)
        return url, data, array.astype(array.dtype.newbyteorder("="))  # big-endian (ImageJ) TIFFs to native

    def images(self, layer: Mapping[str, Any], zs: list[int]) -> dict[int, tuple[int, ...]]:
        """Store image sections ``zs``; returns their shapes."""
        shapes = {}
        for z in progress(zs, "image sections"):
            url, _, array = self._section(IMAGE, layer, z)
            if array.dtype != np.uint8:
                raise ValueError(f"{url}: image is {array.dtype}, expected uint8")
            write_section(self.raw_dir, MAIN, IMAGE, z, array)
            shapes[z] = array.shape
        return shapes

    def label_series(self, kind: str, layer: Mapping[str, Any], zs: list[int], shapes: Mapping[int, tuple[int, ...]]) -> None:
        """Store label sections ``zs`` (binarised if the layer has a threshold), each the shape of its image."""
        for z in progress(zs, f"{kind} sections"):
            url, data, array = self._section(kind, layer, z)
            if array.shape != shapes.get(z, array.shape):
                raise ValueError(f"{url}: {kind} label image has shape {array.shape}, image section {z} has {shapes[z]}")
            if "threshold" in layer:
                array = binarise_mask(array, data, layer["threshold"])
            write_section(self.raw_dir, MAIN, kind, z, array)

    def label_volume(self, kind: str, layer: Mapping[str, Any], zs: list[int], shapes: Mapping[int, tuple[int, ...]]) -> None:
        """Store sections ``zs`` of a label volume file, each mapped through the layer's lookup table."""
        url, path = self._download(layer["file"], kind=kind, sections=len(zs))
        with _hdf5(path, url) as h5:
            if layer["dataset"] not in h5:
                raise ValueError(f"{url}: no dataset {layer['dataset']!r} (has {sorted(h5)})")
            stack = h5[layer["dataset"]]
            bad = [z for z in zs if stack.ndim != 3 or z >= stack.shape[0] or stack.shape[1:] != shapes.get(z, stack.shape[1:])]
            if bad:
                raise ValueError(f"{url}: {layer['dataset']} of shape {stack.shape} lacks section {bad[0]} of its image's shape {shapes.get(bad[0])}")
            lut = _lookup(h5, layer["lookup"], url) if "lookup" in layer else None
            for z in progress(zs, f"{kind} sections"):
                ids = np.asarray(stack[z])
                write_section(self.raw_dir, MAIN, kind, z, _ids(ids if lut is None else _apply(lut, ids, url, z)))
        path.unlink()


@contextlib.contextmanager
def _hdf5(path: Path, url: str) -> Iterator[Any]:
    """Open an HDF5 file read-only; a ``.gz`` file is decompressed to a temporary file beside it first."""
    import h5py

    with contextlib.ExitStack() as stack:
        if path.suffix == ".gz":
            plain = stack.enter_context(tempfile.NamedTemporaryFile(dir=path.parent, suffix=".h5"))
            try:
                with gzip.open(path, "rb") as src:
                    shutil.copyfileobj(src, plain, 1 << 20)
            except (OSError, EOFError) as exc:
                raise ValueError(f"{url}: not a gzip file ({exc})") from exc
            plain.flush()
            path = Path(plain.name)
        try:
            h5 = stack.enter_context(h5py.File(path, "r"))
        except OSError as exc:
            raise ValueError(f"{url}: not an HDF5 file ({exc})") from exc
        yield h5


def _lookup(h5: Any, name: str, url: str) -> tuple[np.ndarray, np.ndarray]:
    """(value per stored id, whether the id is listed) from an (N, 2) table of (stored id, wanted id)."""
    table = np.asarray(h5[name]) if name in h5 else None
    if table is None or table.ndim != 2 or table.shape[1] != 2 or table[:, 0].min() < 0:
        raise ValueError(f"{url}: lookup {name!r} must be an (N, 2) table of non-negative ids (got {None if table is None else table.shape})")
    values = np.zeros(int(table[:, 0].max()) + 1, table.dtype)
    listed = np.zeros(values.size, bool)
    values[table[:, 0]], listed[table[:, 0]] = table[:, 1], True
    return values, listed


def _apply(lut: tuple[np.ndarray, np.ndarray], ids: np.ndarray, url: str, z: int) -> np.ndarray:
    values, listed = lut
    bad = np.unique(ids[(ids < 0) | (ids >= values.size)])
    if bad.size == 0:
        bad = np.unique(ids[~listed[ids]])
    if bad.size:
        raise ValueError(f"{url}: section {z} has ids {bad[:5].tolist()} missing from the lookup table")
    return values[ids]


def _ids(ids: np.ndarray) -> np.ndarray:
    """Label ids as the smallest of uint32/uint64 that holds them (negative ids are an error)."""
    if ids.size and ids.min() < 0:
        raise ValueError(f"negative label ids {np.unique(ids[ids < 0])[:5].tolist()}")
    return ids.astype(np.uint32 if not ids.size or ids.max() <= np.iinfo(np.uint32).max else np.uint64)
