"""SAM2.1 baselines of paper Table 3: zero-shot automatic masks and ground-truth box (+ mask) prompts.

The paper ran SAM2 "with default settings on the rat liver raw images with no downsampling",
adapting SAM2's automatic-mask-generator and image-predictor examples. Decisions made here:

* Sections are grey uint8 and go to SAM2 as 3-channel RGB at full resolution; SAM2 itself
  resizes every image to a 1024 square (aspect not kept), as in its examples.
* Zero-shot: :class:`SAM2AutomaticMaskGenerator` with SAM2's defaults unless overridden. The
  masks come back as uncompressed RLE and are decoded one at a time into the union, so a
  3500x3500 section with hundreds of masks never holds them all as dense arrays.
* Background rule: the generator also segments cytoplasm / background regions. A mask whose
  area exceeds ``max_mask_fraction`` of the section is discarded, because no single
  organelle covers that much of a section; everything else is kept (SAM2 is class-agnostic).
* Prompts: one box per 8-connected component of the ground-truth label, in SAM2's box
  convention: XYXY with x1/y1 the *last* pixel (inclusive), exactly what
  ``sam2.utils.misc.mask_to_box`` produces when SAM2 derives box prompts from masks in
  training. The predictor only rescales the coordinates, so no other shift applies.
* Mask prompts: the component's ground-truth mask is area-resampled onto SAM2's 256x256
  low-resolution grid, which spans the whole image without keeping aspect (the same
  stretch as the 1024 input resize). A low-resolution cell is "inside" when the component
  covers at least half of it; a component too thin or small to cover half of any cell
  (thin ER) keeps every cell it touches, so no prompt mask is empty. Logits are
  +``mask_logit`` inside and -``mask_logit`` outside.
* Inference runs under ``torch.inference_mode`` and, on CUDA only, bfloat16 autocast as in
  SAM2's examples; the model's device decides. Nothing is seeded: with released weights
  inference is deterministic.

``sam2`` is imported inside the functions that need it, so :func:`label_boxes` works
without the ``baselines`` extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    import torch

MODES = ("automatic", "boxes", "boxes_masks")
LOW_RES = 256  # side of SAM2's low-resolution mask grid (4 x the 64x64 image embedding)


def build(model_cfg: str, checkpoint: str | Path | None, device: str | torch.device) -> Any:
    """SAM2 model in eval mode; checkpoint None = random weights (tests)."""
    from vemtransfer.baselines import require

    require("sam2")
    from sam2.build_sam import build_sam2

    ckpt = None if checkpoint is None else str(checkpoint)
    return build_sam2(model_cfg, ckpt_path=ckpt, device=device, mode="eval")


def _components(label: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """int32 8-connected component image of a binary 2D label and each component's bounding slices."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label must be a 2D (H, W) array, got shape {label.shape}")
    components, _ = ndimage.label(label != 0, structure=np.ones((3, 3), dtype=bool))
    return components.astype(np.int32, copy=False), ndimage.find_objects(components)


def label_boxes(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) float32 XYXY boxes (x1, y1 inclusive last pixel, SAM2's convention) of the
    8-connected components of a binary 2D label, and the int32 component image
    (0 = background, i+1 = component i). N may be 0."""
    components, slices = _components(label)
    boxes = np.array([[sx.start, sy.start, sx.stop - 1, sy.stop - 1] for sy, sx in slices], dtype=np.float32)
    return boxes.reshape(-1, 4), components


def _check_image(image: np.ndarray, ndim: int, what: str) -> np.ndarray:
    """``image`` as an array, if it is uint8 with ``ndim`` dimensions; ValueError otherwise."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != ndim:
        raise ValueError(f"{what} must be a uint8 array with {ndim} dimensions, got {image.dtype} of shape {image.shape}")
    return image


def _rgb(image: np.ndarray) -> np.ndarray:
    """HxWx3 RGB from a grey HxW section."""
    return np.repeat(image[:, :, None], 3, axis=2)


@contextlib.contextmanager
def _inference(model: Any) -> Iterator[None]:
    """inference_mode, plus bfloat16 autocast when the model is on CUDA (SAM2's example setup)."""
    import torch

    device = next(model.parameters()).device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        yield


def automatic(model: Any, image: np.ndarray, *, max_mask_fraction: float = 0.1, **generator: Any) -> np.ndarray:
    """bool HxW union of SAM2's automatic masks for a uint8 grey HxW section.

    ``generator`` kwargs go to ``SAM2AutomaticMaskGenerator`` (SAM2's defaults otherwise);
    masks larger than ``max_mask_fraction`` of the section are background and dropped.
    """
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.utils.amg import rle_to_mask

    image = _check_image(image, 2, "image")
    limit = max_mask_fraction * image.size
    mask_generator = SAM2AutomaticMaskGenerator(model, output_mode="uncompressed_rle", **generator)
    with _inference(model):
        records = mask_generator.generate(_rgb(image))
    union = np.zeros(image.shape, dtype=bool)
    for record in records:
        if record["area"] <= limit:
            union |= rle_to_mask(record["segmentation"])
    return union


def _area_weights(n: int) -> np.ndarray:
    """(LOW_RES, n) float32: share of low-resolution cell j covered by pixel i (exact area resampling)."""
    cell = n / LOW_RES
    edges = np.arange(LOW_RES + 1) * cell
    pixels = np.arange(n)
    overlap = np.minimum(edges[1:, None], pixels + 1) - np.maximum(edges[:-1, None], pixels)
    return (np.clip(overlap, 0.0, None) / cell).astype(np.float32)


def _mask_logits(
    components: np.ndarray,
    slices: list[tuple[slice, slice]],
    ids: range,
    weights: tuple[np.ndarray, np.ndarray],
    mask_logit: float,
) -> np.ndarray:
    """(len(ids), 1, 256, 256) float32 low-resolution logits of components ``ids`` (0-based)."""
    wy, wx = weights
    out = np.empty((len(ids), 1, LOW_RES, LOW_RES), dtype=np.float32)
    for k, i in enumerate(ids):
        sy, sx = slices[i]
        crop = (components[sy, sx] == i + 1).astype(np.float32)
        cover = wy[:, sy] @ crop @ wx[:, sx].T
        inside = cover >= 0.5
        if not inside.any():
            inside = cover > 0
        out[k, 0] = np.where(inside, mask_logit, -mask_logit)
    return out


def prompted(
    model: Any, image: np.ndarray, label: np.ndarray, *, masks: bool, mask_logit: float = 10.0, batch: int = 16
) -> np.ndarray:
    """bool HxW union of ``SAM2ImagePredictor`` predictions, one box per ground-truth component.

    With ``masks`` the component's mask also goes in as 256x256 low-resolution logits.
    Boxes are predicted ``batch`` at a time (host memory ~ batch x H x W x 4 bytes).
    """
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    image = _check_image(image, 2, "image")
    if np.shape(label) != image.shape:
        raise ValueError(f"label shape {np.shape(label)} differs from image shape {image.shape}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    boxes, components = label_boxes(label)
    union = np.zeros(image.shape, dtype=bool)
    if len(boxes) == 0:
        return union
    slices = ndimage.find_objects(components) if masks else []
    weights = (_area_weights(image.shape[0]), _area_weights(image.shape[1])) if masks else None
    predictor = SAM2ImagePredictor(model)
    with _inference(model):
        predictor.set_image(_rgb(image))
        for start in range(0, len(boxes), batch):
            ids = range(start, min(start + batch, len(boxes)))
            mask_input = _mask_logits(components, slices, ids, weights, mask_logit) if masks else None
            pred, _, _ = predictor.predict(box=boxes[ids.start : ids.stop], mask_input=mask_input, multimask_output=False)
            union |= pred.reshape(-1, *image.shape).any(axis=0)
    return union


def segment_stack(
    model: Any,
    images: np.ndarray,
    labels: np.ndarray | None,
    mode: str,
    params: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> np.ndarray:
    """bool (Z, H, W) predictions of ``mode`` for a uint8 (Z, H, W) stack, section by section.

    ``mode``: "automatic", "boxes" or "boxes_masks" (the latter two need ``labels``);
    ``params`` are the keyword arguments of :func:`automatic` / :func:`prompted`.
    """
    from tqdm import tqdm

    if mode not in MODES:
        raise ValueError(f"unknown SAM2 mode {mode!r}; valid modes: {', '.join(MODES)}")
    images = _check_image(images, 3, "images")
    if mode != "automatic":
        if labels is None:
            raise ValueError(f"SAM2 mode {mode!r} prompts with ground-truth labels; labels must not be None")
        if np.shape(labels) != images.shape:
            raise ValueError(f"labels shape {np.shape(labels)} differs from images shape {images.shape}")
    kwargs = dict(params or {})
    out = np.zeros(images.shape, dtype=bool)
    for z in tqdm(range(len(images)), desc=f"SAM2 {mode}: {len(images)} sections", disable=not progress):
        if mode == "automatic":
            out[z] = automatic(model, images[z], **kwargs)
        else:
            out[z] = prompted(model, images[z], labels[z], masks=mode == "boxes_masks", **kwargs)
    return out
