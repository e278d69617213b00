"""Pretrained source models as shareable artefacts (``vemtransfer export --stage pretrain``).

Pretraining is the expensive, data-heavy half of a recommendation: tens of GB of public
data and hours of GPU. Done once, its models should travel, so that a lab recommends from
sources someone else pretrained without downloading their data. This writes a source's
pretrained model (``results/models/pretrain/{task}/rep{r}/model.pt``) as

- ``torchscript`` (the CLI's default format): ``model.pt`` (the checkpoint itself, byte for
  byte, what ``pretrained:`` imports), ``model.json`` (what :func:`vemtransfer.export.torchscript.model_metadata` records:
  task, architecture, patch size, preprocessing, training data, provenance) and ``model.ts``
  (so ``vemtransfer predict`` can use it directly too);
- ``bioimageio``: a bioimage.io package (``bioimageio.zip`` and its folder), whose
  ``pytorch_state_dict`` weights and ``config.vemtransfer`` metadata
  :mod:`vemtransfer.model.package` turns back into the same checkpoint on import;

and beside it ``pretrained.yaml``: the ``pretrained:`` config entry that imports the file,
with its sha256, ready to paste (replace ``path`` by ``url`` once the file is uploaded).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vemtransfer.core.storage import atomic_path, write_text
from vemtransfer.export.torchscript import (
    export_model,
    export_options,
    model_metadata,
    prepared_test_volume,
)

if TYPE_CHECKING:
    from vemtransfer.config import Config
    from vemtransfer.config.grid import Run

FORMATS = ("torchscript", "bioimageio")
SNIPPET = "pretrained.yaml"


@dataclass(frozen=True)
class SharedSource:
    """An exported pretrained source: the file to share, its sha256 and the config entry importing it."""

    run_id: str
    file: Path
    sha256: str
    entry: dict[str, Any]


def source_run(cfg: Config, source: str, rep: int) -> Run:
    """The pretraining run of ``source`` whose model repeat ``rep`` of a fine-tune starts from."""
    from vemtransfer.config import ConfigError
    from vemtransfer.config.grid import pretrained_run

    if source not in cfg.tasks:
        raise ConfigError(f"unknown task {source!r}; tasks are {', '.join(cfg.tasks)}")
    return pretrained_run(cfg.experiment, source, rep)


def export_pretrained_source(cfg: Config, source: str, rep: int, out_dir: str | Path, fmt: str = "torchscript", *,
                             authors: Sequence[str] = (), license: str = "MIT", zip: bool = True) -> SharedSource:
    """Write ``source``'s pretrained model (repeat ``rep``) into ``out_dir`` in ``fmt`` (see the module docstring).

    Raises ``FileNotFoundError`` when the model has not been pretrained (or imported) yet.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    run = source_run(cfg, source, rep)
    model, options = export_options(cfg, run)
    if not model.exists():
        raise FileNotFoundError(f"{model} does not exist: pretrain it first (snakemake {model})")
    out_dir = Path(out_dir)
    if fmt == "torchscript":
        export_model(model, out_dir, **options)
        with atomic_path(out_dir / "model.pt") as tmp:
            shutil.copyfile(model, tmp)
        shared = out_dir / "model.pt"
    else:
        if not zip:
            raise ValueError("a pretrained source is shared as bioimageio.zip: --no-zip leaves nothing to import")
        from vemtransfer.export.bioimageio import export_bioimageio

        meta = model_metadata(model, **options)
        package = export_bioimageio(model, out_dir, meta, authors=authors, license=license, zip=True,
                                    test_input=prepared_test_volume(cfg, run, meta["patch_size"]))
        shared = package.zip if package.zip is not None else out_dir / "bioimageio.zip"
    sha = hashlib.sha256(shared.read_bytes()).hexdigest()
    entry = {source: {"path": str(shared.resolve()), "sha256": sha}}
    write_text(out_dir / SNIPPET, f"# vemtransfer export --stage pretrain --source {source} --rep {rep} ({run.model_id}, {fmt});\n"
               "# paste under the config's top level; once uploaded, replace path by url: https://...\n"
               + yaml.safe_dump({"pretrained": entry}, sort_keys=False))
    return SharedSource(run.model_id, shared, sha, entry)
