"""Import pretrained source models (a previous run's, a colleague's) instead of training them.

A lab that fine-tunes on its own volume should not have to pretrain the public tasks again:
``pretrained:`` in the config maps a source task to model files (a local path or an http(s)
URL, each with its sha256). The file is fetched with the same verified, atomic download as
the data (or copied and hashed), then checked to be a vemtransfer model of this config's
network and of that task, so a wrong file fails here rather than inside a fine-tune.

The file may be our model file (``model.pt``, e.g. from ``vemtransfer export --stage
pretrain``) or a bioimage.io package zip that vemtransfer exported (``--format bioimageio``):
the sha256 is the shared file's, and a package is turned back into a model file with the
same weights (:mod:`vemtransfer.model.package`), recognised by its content, not its name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vemtransfer.core.storage import atomic_path
from vemtransfer.data.download import download, file_record
from vemtransfer.model.checkpoint import read_model_file
from vemtransfer.model.package import is_package, package_to_model_file


def model_spec(specs: Any, rep: int) -> Mapping[str, Any]:
    """The model of repeat ``rep`` (1-based): one spec serves every repeat, a list has one per repeat."""
    return specs[rep - 1] if isinstance(specs, list) else specs


def _copy_verified(src: Path, dest: Path, sha256: str) -> dict[str, Any]:
    if not src.is_file():
        raise FileNotFoundError(f"pretrained model {src} does not exist")
    record = file_record(str(src), src, with_md5=False)
    if record["sha256"] != sha256:
        raise ValueError(f"pretrained model {src}: sha256 {record['sha256']} != configured {sha256}")
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return {"path": str(src), "size": record["size"], "sha256": record["sha256"]}


def import_model(spec: Mapping[str, Any], dest: str | Path, task: str, widths: list[int], planar_levels: int = 0) -> dict[str, Any]:
    """Fetch (URL) or copy (path) a verified model file or vemtransfer bioimage.io package, write it to ``dest`` as a
    model file, and check it is ``task``'s, with the config's network."""
    dest = Path(dest)
    fetched = dest.with_name(dest.name + ".fetched")  # dest appears only once it is a checked model file
    where = spec.get("url", spec.get("path"))
    if "url" in spec:
        record = {**download(spec["url"], fetched, sha256=spec["sha256"]), "path": str(dest)}
    else:
        record = _copy_verified(Path(spec["path"]), fetched, spec["sha256"])
    try:
        if is_package(fetched):
            package_to_model_file(fetched, dest)
            fetched.unlink()
            record["format"] = "bioimageio"
        else:
            os.replace(fetched, dest)
        meta = read_model_file(dest)
        if list(meta["widths"]) != list(widths):
            raise ValueError(f"it has widths {list(meta['widths'])}, the config's model has {list(widths)}")
        if meta.get("planar_levels", 0) != planar_levels:
            raise ValueError(f"it has planar_levels {meta.get('planar_levels', 0)}, the config's model has {planar_levels}")
        if meta.get("target") != task:
            raise ValueError(f"it was trained on {meta.get('target')!r}, imported as {task!r}")
    except ValueError as exc:
        dest.unlink(missing_ok=True)
        fetched.unlink(missing_ok=True)
        raise ValueError(f"pretrained model for {task} ({where}): {exc}") from exc
    return {**record, "task": task, "source_meta": {k: meta.get(k) for k in ("source", "target", "budget", "rep", "seed")}}
