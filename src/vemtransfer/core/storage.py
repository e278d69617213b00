"""Atomic writes: every file appears complete under its final name or not at all.

Snakemake and our resume logic both treat "the file exists" as "the step is done", so a
write interrupted by a crash, a kill or a full disk must never leave a partial file under
the final name. Each writer fills ``<name>.<random>.tmp`` beside the target, flushes it to
disk and ``os.replace``s it into place (atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are shared like any other file
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` (memory-mappable for patch reads), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))


def save_torch(path: str | Path, obj: Any) -> None:
    """``torch.save`` atomically (checkpoints and models)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@contextlib.contextmanager
def npy_section_writer(path: str | Path, n_sections: int) -> Iterator[Callable[[np.ndarray], None]]:
    """Stream ``n_sections`` 2-D sections into one ``.npy`` volume, atomically.

    Yields ``append(section)``; the header is written from the first section's shape and
    dtype, every later section must match, and the file only appears under ``path`` when
    exactly ``n_sections`` were appended. Peak memory is one section, whatever the volume.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        seen: list[tuple[tuple[int, ...], np.dtype]] = []

        def append(section: np.ndarray) -> None:
            key = (section.shape, section.dtype)
            if not seen:
                header = {"descr": np.lib.format.dtype_to_descr(section.dtype), "fortran_order": False, "shape": (n_sections, *section.shape)}
                np.lib.format.write_array_header_1_0(fh, header)
                seen.append(key)
            elif key != seen[0]:
                raise ValueError(f"{path}: section {key} differs from the first {seen[0]}")
            if len(seen) > n_sections:
                raise ValueError(f"{path}: more than {n_sections} sections")
            fh.write(np.ascontiguousarray(section).tobytes())
            seen.append(key)

        yield append
        if len(seen) - 1 != n_sections:
            raise ValueError(f"{path}: got {max(len(seen) - 1, 0)} sections, expected {n_sections}")


def fresh_dir(out: Path) -> Path:
    """A new temporary directory beside ``out``, after removing ones that interrupted runs left.

    One writer per output is assumed (Snakemake guarantees it), so any such directory is stale."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for pattern in (f"{out.name}.tmp-*", f"{out.name}.old-*"):
        for stale in out.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = out.with_name(f"{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    return tmp


def replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished directory ``tmp`` onto ``out``, removing any previous ``out``.

    A directory cannot be ``os.replace``d onto a non-empty one, so an old result is first
    renamed aside; ``out`` is briefly absent but never holds a partial result."""
    if out.exists():
        old = out.with_name(f"{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
