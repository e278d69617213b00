"""The README of a bioimage.io model package: what a user of the model must know, from its export metadata.

Apart from the package itself (:mod:`vemtransfer.export.bioimageio`) because it is a document:
the input preprocessing (in words, from :mod:`vemtransfer.config.preprocess`), the output and its
threshold, the training data with their licences, the test scores and how to cite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vemtransfer.config.preprocess import INTENSITY_CENTRE, preprocess_steps
from vemtransfer.model.network import RSUNet

PAPER_CITATION = {
    "text": ("Xie R, Mulcahy B, Darbandi A, Marwah S, Ali F, Lee Y, Parlakgul G, Hotamisligil GS, Wang B, "
             "MacParland S, Zhen M, Bader GD. Transfer learning improves performance in volumetric electron "
             "microscopy organelle segmentation across tissues. Bioinformatics Advances (2025), vbaf021."),
    "doi": "10.1093/bioadv/vbaf021",
}


def readme(*, name: str, description: str, net: RSUNet, meta: Mapping[str, Any], license: str = "MIT") -> str:
    """The package's documentation (README.md), from the export metadata ``meta``."""
    patch, voxel_nm, threshold = meta["patch_size"], meta.get("voxel_nm"), float(meta["threshold"])
    voxel = (f"**{voxel_nm[0]:g} x {voxel_nm[1]:g} x {voxel_nm[2]:g} nm (z y x)**. Resample new volumes to this voxel size."
             if voxel_nm else "not recorded (the training dataset gives none): give new volumes the training data's resolution.")
    data = "\n".join(f"- {_dataset_line(d)}" for d in meta.get("training_data", ())) or "- not recorded"
    preprocess = meta.get("preprocess") or {}
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(preprocess_steps(preprocess), 1))
    metrics = meta.get("metrics") or {}
    scores = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items())
    table = f"| metric | value |\n|---|---|\n{scores}" if scores else "No test metrics were recorded."
    val = meta.get("val_iou_fg")
    selection = (f"\n\nThe model was selected on a validation foreground IoU of {val:.4f} (held-out part of the "
                 "training region)." if isinstance(val, (int, float)) else "")
    return f"""# {name}

{description}

A 3-D residual symmetric U-Net (RSUNet, widths {list(net.widths)}, in-plane pooling only)
trained with vemtransfer, a reproduction of Xie et al. 2025 (below). It maps a volume-EM
stack to the per-voxel probability of the segmented structure.

## Input and preprocessing

Voxel size of the training data: {voxel}

The network was trained on sections preprocessed as follows (task preprocessing
`{json.dumps(plain(dict(preprocess)))}`):

{steps}

each applied to every uint8 section separately.

**Inputs must be preprocessed the same way before they are given to this model**: the
CLAHE and blur are not part of the package. The input tensor holds the preprocessed uint8
values (0-255) as float32; the package's `scale_linear` step (gain 1/{INTENSITY_CENTRE:g}, offset -1)
maps them to [-1, 1] as in training (`(x - {INTENSITY_CENTRE:g}) / {INTENSITY_CENTRE:g}`). `vemtransfer predict` does all
of this from a raw volume.

Training patches were {patch[0]} x {patch[1]} x {patch[2]} voxels (z y x); any z, and y/x
multiples of {net.yx_divisor}, are accepted. Predict large volumes in overlapping tiles of
about the training patch size (vemtransfer predicts with overlap {meta.get('overlap', 0.5):g}).

## Output

One channel of foreground probabilities (sigmoid of the network's logits), same shape as
the input. Binarise with **threshold {threshold:g}** (probability > {threshold:g}), the
threshold used for the reported metrics.

## Training data

{data}

## Validation

Scores on the task's held-out test region (foreground IoU etc. of the mask thresholded at
{threshold:g}):

{table}{selection}

To validate the model on new data, annotate a few sections, preprocess them as above,
predict, threshold at {threshold:g} and compute the foreground IoU against the annotation.

## Citation

If you use this model, please cite:

- {PAPER_CITATION['text']} https://doi.org/{PAPER_CITATION['doi']}

and the training datasets listed above.

## Licence

The model (weights and code) is released under {license}. The training data keep their own
licences, listed above.
"""


def _dataset_line(entry: Mapping[str, Any]) -> str:
    parts = [str(entry.get("name", "unnamed dataset"))]
    if entry.get("task") or entry.get("role"):
        parts.append(" ".join(str(v) for v in (entry.get("role"), entry.get("task") and f"task {entry['task']}") if v))
    if entry.get("doi"):
        parts.append(f"DOI [{entry['doi']}](https://doi.org/{entry['doi']})")
    if entry.get("url"):
        parts.append(f"<{entry['url']}>")
    if entry.get("voxel_nm"):
        parts.append("raw voxel " + " x ".join(f"{v:g}" for v in entry["voxel_nm"]) + " nm (z y x)")
    licence = entry.get("licence") or entry.get("license")
    parts.append(f"licence: {licence}" if licence else "licence: see source")
    return ", ".join(parts)


def plain(value: Any) -> Any:
    """JSON/YAML-safe copy (numpy scalars and tuples become plain numbers and lists)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
