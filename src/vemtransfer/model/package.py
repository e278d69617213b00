"""Read a pretrained source model back out of a bioimage.io package (zip) that vemtransfer exported.

A lab that pretrained a source once (on a GPU) shares it as a bioimage.io package
(``vemtransfer export --stage pretrain --format bioimageio``); another lab imports it into
``pretrained:`` without the source's data. The package already holds everything a
fine-tune needs: the ``pytorch_state_dict`` weights (the same tensors as the checkpoint,
BatchNorm statistics included), the architecture's keyword arguments and, under
``config.vemtransfer``, the checkpoint's metadata (``model.json``). This module turns it back
into our model file, so the fine-tune starts from exactly the weights it would have started
from with the original checkpoint.

Only the standard library, yaml and torch are used: no bioimageio.spec (an optional extra)
and no network, and no code from the package runs (the weights load with
``weights_only=True``; the packaged architecture source is not imported: the network is our
own RSUNet rebuilt from the recorded widths).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml

from vemtransfer.model.checkpoint import save_model
from vemtransfer.model.network import RSUNet

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
EXPORT_FORMAT = "vemtransfer-export/1"
CHECKPOINT_KEYS = ("source", "target", "budget", "rep", "seed", "config_hash", "selected_step", "demo", "patch_size")
"""Metadata of the original checkpoint that the package records and the imported model file keeps."""


def is_package(path: str | Path) -> bool:
    """Whether ``path`` is a zip (a bioimage.io package) rather than a model file (a torch zip has no rdf)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(name in z.namelist() for name in RDF_NAMES)


def read_package(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(the package's ``config.vemtransfer`` metadata, its state dict), verified against the rdf's sha256.

    Raises ``ValueError`` when the zip is not a vemtransfer-exported package or its weights do
    not match their recorded checksum.
    """
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        rdf_name = next((n for n in RDF_NAMES if n in names), None)
        if rdf_name is None:
            raise ValueError(f"{path} is a zip without rdf.yaml: not a bioimage.io package")
        rdf = yaml.safe_load(z.read(rdf_name))
        meta = (rdf.get("config") or {}).get("vemtransfer")
        if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
            raise ValueError(f"{path}: a bioimage.io package not exported by vemtransfer (no config.vemtransfer of format {EXPORT_FORMAT})")
        weights = (rdf.get("weights") or {}).get("pytorch_state_dict")
        if not weights or weights.get("source") not in names:
            raise ValueError(f"{path}: the package has no pytorch_state_dict weights file")
        data = z.read(weights["source"])
    if weights.get("sha256") and hashlib.sha256(data).hexdigest() != weights["sha256"]:
        raise ValueError(f"{path}: {weights['source']} does not match the sha256 recorded in {rdf_name}")
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    arch = weights.get("architecture", {}).get("kwargs") or {k: meta[k] for k in ("widths", "bn_momentum", "planar_levels")}
    return {**meta, **arch}, state


def package_to_model_file(package: str | Path, dest: str | Path) -> dict[str, Any]:
    """Write the source model in a vemtransfer bioimage.io ``package`` as our model file ``dest``; returns its metadata.

    The network is rebuilt from the recorded architecture and loaded strictly, so a package
    whose weights do not fit it fails here, not in a fine-tune.
    """
    meta, state = read_package(package)
    net = RSUNet(list(meta["widths"]), float(meta["bn_momentum"]), int(meta.get("planar_levels") or 0))
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{package}: the packaged weights do not fit the recorded architecture: {exc}") from exc
    kept = {k: meta[k] for k in CHECKPOINT_KEYS if meta.get(k) is not None}
    save_model(dest, net, {**kept, "imported_from": "bioimage.io package"})
    return kept
