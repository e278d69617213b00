"""Export a trained model as a bioimage.io model package (spec format 0.5).

``vemtransfer export --format bioimageio`` writes it beside (or instead of) the TorchScript
export, from the same model choice and the same metadata (:func:`vemtransfer.export.torchscript.model_metadata`,
i.e. ``model.json``, kept whole in the package's ``config.vemtransfer``). The package lets
bioimage.io tools (``bioimageio.core``, and tools that run bioimage.io models) use the
network without this repository. It holds:

- the weights twice: TorchScript (traced at the training patch size; the network is fully
  convolutional) and a ``pytorch_state_dict`` whose architecture is ``model.py`` itself,
  packaged as ``rsunet.py`` (``ArchitectureFromFileDescr``, callable ``RSUNet``). We chose the
  source file over ``ArchitectureFromLibraryDescr`` (``vemtransfer.model.network.RSUNet``) because
  ``model.py`` imports only torch, so bioimageio.core loads it offline in any environment,
  with or without vemtransfer installed;
- input ``raw`` (batch, channel, z, y, x): float32 holding the preprocessed uint8 values
  0-255, with a ``scale_linear`` preprocessing step (gain 1/127.5, offset -1) that
  reproduces :func:`vemtransfer.data.splits.normalise`. The CLAHE + blur (+ crop / resize) the
  network was trained with cannot be expressed as spec operations: they are documented and
  must be applied by the user beforehand;
- output ``probability`` of the same shape: the network's logits through a ``sigmoid``
  postprocessing step, so both weight formats give the same probabilities;
- test input / output tensors (a crop of the task's prepared test volume when the CLI has
  one, else a synthetic preprocessed volume), sample TIFFs, a cover image, a README with
  training data, voxel size, preprocessing, threshold, metrics and citations, ``cite``
  entries (DOIs only: bioimageio.spec checks every cited URL online, DOIs by pattern).

bioimageio.spec is imported only when a package is built (the optional extra
``vemtransfer[bioimageio]``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemtransfer.config.preprocess import INTENSITY_CENTRE, describe_preprocess
from vemtransfer.core.storage import atomic_path, save_torch, write_npy, write_text
from vemtransfer.data.splits import normalise
from vemtransfer.export.model_card import PAPER_CITATION, plain, readme
from vemtransfer.export.torchscript import write_torchscript
from vemtransfer.model import network as model_module
from vemtransfer.model.checkpoint import architecture, load_model
from vemtransfer.model.network import RSUNet

PACKAGE_ZIP = "bioimageio.zip"
PACKAGE_DIR = "bioimageio"
INPUT_ID, OUTPUT_ID = "raw", "probability"
GAIN, OFFSET = 1 / INTENSITY_CENTRE, -1.0
TAGS = ("electron-microscopy", "3d", "pytorch", "unet", "semantic-segmentation", "volume-em", "transfer-learning", "vemtransfer")


@dataclass(frozen=True)
class Package:
    """A written package: the folder's ``rdf.yaml`` and, when asked for, the zip."""

    rdf: Path
    zip: Path | None


def export_bioimageio(model_file: str | Path, out_dir: str | Path, meta: Mapping[str, Any], *, name: str | None = None,
                      description: str | None = None, authors: Sequence[str | Mapping[str, Any]] = (),
                      license: str = "MIT", zip: bool = True, test_input: np.ndarray | None = None,
                      tags: Sequence[str] = ()) -> Package:
    """Write the model in ``model_file`` as a bioimage.io package into ``out_dir``.

    ``meta``: what :func:`vemtransfer.export.torchscript.model_metadata` returns for ``model_file`` (the
    content of ``model.json``): patch size (z, y, x; the test tensor's shape, y/x multiples
    of the network's pooling factor), voxel size (the axes' physical scale), threshold,
    preprocessing (documented only), test metrics, validation IoU, training data (dicts with
    ``name`` and optionally ``task``, ``role``, ``url``, ``doi``, ``licence``; each one with a
    DOI is also cited) and provenance. ``name`` / ``description`` default to ones made from
    ``meta``. The package is the folder ``out_dir/bioimageio/`` and, with ``zip``, also
    ``out_dir/bioimageio.zip``; each appears complete or not at all. ``test_input``: an
    already preprocessed uint8 (z, y, x) volume at least the patch size large (its centre
    is used); default a synthetic liver volume through CLAHE + blur. ``authors``: names, or
    dicts of bioimage.io ``Author`` fields; a ``github_user`` is looked up on api.github.com
    by bioimageio.spec whenever it validates, which fails without network, so leave it out
    for offline use.
    """
    net = load_model(model_file).eval()
    patch = tuple(int(s) for s in meta["patch_size"])
    if len(patch) != 3 or any(s % net.yx_divisor for s in patch[1:]):
        raise ValueError(f"patch_size must be (z, y, x) with y and x multiples of {net.yx_divisor}, got {list(patch)}")
    voxel_nm = meta.get("voxel_nm")
    if voxel_nm is not None and len(voxel_nm) != 3:
        raise ValueError(f"voxel_nm must be (z, y, x) in nm, got {voxel_nm}")
    raw = _test_volume(test_input, patch)
    prob = _probabilities(net, raw)
    name, description = name or default_name(meta), description or default_description(meta)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bioimageio-", dir=out_dir) as tmp:
        files = _write_files(Path(tmp) / "files", net, raw, prob, float(meta["threshold"]))
        write_text(files["documentation"], readme(name=name, description=description, net=net, meta=meta, license=license))
        descr = _describe(files, net, name=name, description=description, meta=meta, authors=authors, license=license, tags=tags)
        return _save(descr, Path(tmp), out_dir, zip)


def default_name(meta: Mapping[str, Any]) -> str:
    """``vemtransfer <target> <source> <budget> rep<rep>`` (what is known of it)."""
    parts = [str(meta[k]) for k in ("target", "source", "budget") if meta.get(k)]
    if meta.get("rep"):
        parts.append(f"rep{meta['rep']}")
    return " ".join(["vemtransfer", *dict.fromkeys(parts)]) if parts else "vemtransfer model"


def default_description(meta: Mapping[str, Any]) -> str:
    """What the model segments and how it was trained, from ``meta``'s training data."""
    data = meta.get("training_data") or ()
    labels = sorted({d["label"] for d in data if d.get("label") and d.get("role") != "pretraining"}
                    or {d["label"] for d in data if d.get("label")})
    how = {"pretraining": "pretrained on", "training": "trained on", "fine-tuning": "fine-tuned on"}
    runs = ", then ".join(f"{how.get(d.get('role'), 'trained on')} {d.get('task', d.get('name'))}" for d in data)
    return (f"3-D segmentation of {'/'.join(labels) or 'one structure'} in volume electron microscopy: a residual U-Net"
            f"{' ' + runs if runs else ''} with vemtransfer (a reproduction of Xie et al. 2025). Outputs the per-voxel "
            "foreground probability.")


def _test_volume(test_input: np.ndarray | None, patch: tuple[int, int, int]) -> np.ndarray:
    """The centre ``patch`` of ``test_input`` (uint8), or a synthetic, CLAHE-enhanced liver volume."""
    if test_input is None:
        from vemtransfer.data.prepare import enhance
        from vemtransfer.data.synthetic import generate_tissue

        image = generate_tissue("liver", patch, seed=0)[0]
        return np.stack([enhance(section) for section in image])
    test_input = np.asarray(test_input)
    if test_input.dtype != np.uint8 or test_input.ndim != 3 or any(n < p for n, p in zip(test_input.shape, patch)):
        raise ValueError(f"test_input must be uint8 (z, y, x) of at least {list(patch)}, got {test_input.dtype} {test_input.shape}")
    start = [(n - p) // 2 for n, p in zip(test_input.shape, patch)]
    return np.ascontiguousarray(test_input[tuple(slice(s, s + p) for s, p in zip(start, patch))])


def _probabilities(net: RSUNet, raw: np.ndarray) -> np.ndarray:
    """Sigmoid of the network on ``normalise(raw)``: what the package's test output must hold."""
    with torch.no_grad():
        logits = net(torch.from_numpy(normalise(raw))[None, None])
    return torch.sigmoid(logits).numpy().astype(np.float32)


def _write_files(folder: Path, net: RSUNet, raw: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, Path]:
    """Weights (state dict + TorchScript), the architecture source, test and sample tensors, the cover."""
    files = {
        "state_dict": folder / "weights.pt", "torchscript": folder / "weights_torchscript.pt",
        "architecture": folder / "rsunet.py", "test_input": folder / "test_input.npy",
        "test_output": folder / "test_output.npy", "sample_input": folder / "sample_input.tif",
        "sample_output": folder / "sample_output.tif", "cover": folder / "cover.png", "documentation": folder / "README.md",
    }
    save_torch(files["state_dict"], {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()})
    write_torchscript(net, raw.shape, files["torchscript"])  # the same tracing as model.ts
    write_text(files["architecture"], Path(model_module.__file__).read_text())
    write_npy(files["test_input"], raw.astype(np.float32)[None, None])
    write_npy(files["test_output"], prob)
    _write_tiff(files["sample_input"], raw)  # sample tensors: the same volume, for viewers (npy is not accepted there)
    _write_tiff(files["sample_output"], prob[0, 0])
    _cover(files["cover"], raw, prob[0, 0] > threshold)
    return files


def _write_tiff(path: Path, array: np.ndarray) -> None:
    import tifffile

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        tifffile.imwrite(fh, array, photometric="minisblack")


def _cover(path: Path, raw: np.ndarray, mask: np.ndarray) -> None:
    """Middle section of the test input beside the thresholded output (2:1, as bioimage.io asks)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    z = raw.shape[0] // 2
    fig = Figure(figsize=(8, 4), dpi=100)
    left, right = fig.subplots(1, 2)
    left.imshow(raw[z], cmap="gray", vmin=0, vmax=255)
    right.imshow(raw[z], cmap="gray", vmin=0, vmax=255)
    right.imshow(np.ma.masked_where(~mask[z], mask[z]), cmap=ListedColormap(["red"]), alpha=0.5)
    left.set_title("input (preprocessed)")
    right.set_title("prediction > threshold")
    for ax in (left, right):
        ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _name(name: str) -> str:
    """bioimage.io names allow letters, digits, ``_+- ()`` and 5-128 characters."""
    clean = re.sub(r"[^A-Za-z0-9_+\- ()]", "-", name).strip()[:128]
    if len(clean) < 5:
        raise ValueError(f"name {name!r} is too short for bioimage.io (at least 5 characters)")
    return clean


def _describe(files: Mapping[str, Path], net: RSUNet, *, name: str, description: str, meta: Mapping[str, Any],
              authors: Sequence[str | Mapping[str, Any]], license: str, tags: Sequence[str]) -> Any:
    """The bioimage.io ``ModelDescr`` (validated on construction)."""
    from bioimageio.spec.model import v0_5 as spec

    step, voxel_nm, threshold = net.yx_divisor, meta.get("voxel_nm"), float(meta["threshold"])
    unit = "nanometer" if voxel_nm else None
    scale = dict(zip("zyx", (float(v) for v in voxel_nm))) if voxel_nm else dict.fromkeys("zyx", 1.0)
    inputs = spec.InputTensorDescr(
        id=spec.TensorId(INPUT_ID),
        description="preprocessed uint8 EM volume (CLAHE + blur, see README) as float32",
        axes=[spec.BatchAxis(), spec.ChannelAxis(channel_names=[spec.Identifier("em")]),
              *(spec.SpaceInputAxis(id=spec.AxisId(a), size=spec.ParameterizedSize(min=1 if a == "z" else step, step=1 if a == "z" else step),
                                    unit=unit, scale=scale[a], concatenable=False) for a in "zyx")],
        test_tensor=spec.FileDescr(source=files["test_input"]), sample_tensor=spec.FileDescr(source=files["sample_input"]),
        data=spec.IntervalOrRatioDataDescr(type="float32", range=(0.0, 255.0)),
        preprocessing=[spec.ScaleLinearDescr(kwargs=spec.ScaleLinearKwargs(gain=GAIN, offset=OFFSET))],
    )
    outputs = spec.OutputTensorDescr(
        id=spec.TensorId(OUTPUT_ID),
        description=f"foreground probability; binarise with > {threshold:g}",
        axes=[spec.BatchAxis(), spec.ChannelAxis(channel_names=[spec.Identifier("foreground")]),
              *(spec.SpaceOutputAxis(id=spec.AxisId(a), size=spec.SizeReference(tensor_id=spec.TensorId(INPUT_ID), axis_id=spec.AxisId(a)),
                                     unit=unit, scale=scale[a]) for a in "zyx")],
        test_tensor=spec.FileDescr(source=files["test_output"]), sample_tensor=spec.FileDescr(source=files["sample_output"]),
        data=spec.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
        postprocessing=[spec.SigmoidDescr()],
    )
    torch_version = spec.Version(torch.__version__.split("+")[0])
    weights = spec.WeightsDescr(
        pytorch_state_dict=spec.PytorchStateDictWeightsDescr(
            source=files["state_dict"], pytorch_version=torch_version,
            architecture=spec.ArchitectureFromFileDescr(source=files["architecture"], callable=spec.Identifier("RSUNet"),
                                                        kwargs=plain(architecture(net)))),
        torchscript=spec.TorchscriptWeightsDescr(source=files["torchscript"], pytorch_version=torch_version,
                                                 parent="pytorch_state_dict", comment="traced from the pytorch_state_dict weights"),
    )
    cite = [spec.CiteEntry(text=PAPER_CITATION["text"], doi=spec.Doi(PAPER_CITATION["doi"]))]
    for entry in meta.get("training_data", ()):
        if entry.get("doi"):  # URLs only in the README and config: bioimageio.spec requests every cited URL when it validates
            cite.append(spec.CiteEntry(text=f"Training data: {entry.get('name', 'dataset')}", doi=spec.Doi(entry["doi"])))
    people = [spec.Author(name=a) if isinstance(a, str) else spec.Author(**a) for a in authors]
    return spec.ModelDescr(
        name=_name(name), description=description, authors=people, cite=cite, license=spec.LicenseId(license),
        documentation=spec.FileDescr(source=files["documentation"]), covers=[spec.FileDescr(source=files["cover"])], tags=list(dict.fromkeys([*TAGS, *tags])),
        inputs=[inputs], outputs=[outputs], weights=weights,
        config={
            "bioimageio": {"training": {"training_preprocessing": describe_preprocess(meta.get("preprocess") or {})},
                           "architecture_type": "3D residual U-Net (RSUNet)"},
            "vemtransfer": plain(dict(meta)),  # model.json of the TorchScript export
        },
    )


def _save(descr: Any, tmp: Path, out_dir: Path, zip: bool) -> Package:
    """Save the package inside ``tmp`` (on ``out_dir``'s file system), then move it into place."""
    from bioimageio.spec import save_bioimageio_package, save_bioimageio_package_as_folder

    folder = Path(save_bioimageio_package_as_folder(descr, output_path=tmp / PACKAGE_DIR))
    built = save_bioimageio_package(descr, output_path=tmp / PACKAGE_ZIP) if zip else None
    target = out_dir / PACKAGE_DIR
    if target.exists():
        os.replace(target, tmp / "previous")  # removed with tmp
    os.replace(folder, target)
    if built is not None:
        os.replace(built, out_dir / PACKAGE_ZIP)
    rdf = next(p for p in (target / "rdf.yaml", target / "bioimageio.yaml") if p.exists())
    return Package(rdf, out_dir / PACKAGE_ZIP if built is not None else None)
