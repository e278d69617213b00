"""MitoNet (empanada) baselines: zero-shot inference at a downsampling factor, and fine-tuning.

Everything runs through empanada's own code, not a reimplementation:

- inference assembles the same pieces as empanada-napari's 2D inference (``Engine2d``): the
  TorchScript model loaded by ``empanada_napari.utils.load_model_to_device``, the image
  downsampled by ``empanada.data.utils.resize_by_factor``, normalised by the model's
  ``norms`` (``Preprocessor``), and ``PanopticDeepLabRenderEngine(image, size,
  upsampling=scale)``, which renders the panoptic segmentation back at full size. The
  defaults of :data:`ENGINE_DEFAULTS` are the napari widget's. ``Engine2d`` itself lives in a
  module that imports napari's Qt threading, so it cannot be imported without Qt;
  ``force_connected`` (its last step) only renumbers instances, which binarising ignores.
- fine-tuning calls ``empanada_napari.finetune.main`` with the config its napari widget
  builds (``finetune_config.yaml`` + the model's ``FINETUNE`` block; epochs from the number
  of iterations), on a directory of 2D patches in empanada's layout
  (``<dir>/<name>/images/*.tiff`` + ``masks/*.tiff`` with instance ids).

``empanada_napari/__init__.py`` registers napari widgets (and so imports napari and Qt);
:func:`_napari_free` imports its GUI-free modules (``utils``, ``finetune``) through a bare
package entry, so napari is never needed. The paper's "1x/2x/4x" is empanada's inference
downsampling factor.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import random
import shutil
import sys
import tempfile
import types
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch
from scipy import ndimage
from tqdm import tqdm

from vemtransfer.baselines import require
from vemtransfer.core.storage import atomic_path
from vemtransfer.data.patches import tile_origins

MODEL_CONFIG = "MitoNet_v1"
#: empanada-napari's 2D inference widget defaults (confidence, center threshold, NMS kernel,
#: max objects per class, coarse boundaries).
ENGINE_DEFAULTS: dict[str, Any] = {"confidence_thr": 0.5, "nms_threshold": 0.1, "nms_kernel": 3, "label_divisor": 10000, "fine_boundaries": False}


def _package_dir() -> Path:
    loaded = sys.modules.get("empanada_napari")
    if loaded is not None:
        return Path(next(iter(loaded.__path__)))
    require("empanada", "albumentations", locate_only=("empanada_napari",))
    spec = importlib.util.find_spec("empanada_napari")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _napari_free(module: str) -> Any:
    """``empanada_napari.<module>`` imported without the package ``__init__`` (which imports napari)."""
    if "empanada_napari" not in sys.modules:
        pkg = types.ModuleType("empanada_napari")
        pkg.__path__ = [str(_package_dir())]
        sys.modules["empanada_napari"] = pkg
    return importlib.import_module(f"empanada_napari.{module}")


def model_config(model_file: str | Path) -> dict[str, Any]:
    """empanada's MitoNet_v1 model config (norms, padding, classes, FINETUNE) pointing at ``model_file``."""
    from empanada.config_loaders import load_config

    config = load_config(str(_package_dir() / "configs" / f"{MODEL_CONFIG}.yaml"))
    config["model"] = str(model_file)
    config["model_quantized"] = None
    return config


def _device(device: str | torch.device | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def segment_stack(model_file: str | Path, images: np.ndarray, scale: int, params: Mapping[str, Any] | None = None,
                  device: str | torch.device | None = None, progress: bool = True) -> np.ndarray:
    """Binarised MitoNet instances, bool (Z, H, W), of a uint8 (Z, H, W) stack at downsampling ``scale``."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"MitoNet input must be a uint8 (z, y, x) stack, got {images.dtype} {images.shape}")
    if scale < 1 or not math.log2(scale).is_integer():
        raise ValueError(f"MitoNet downsampling must be a power of 2, got {scale}")
    p = {**ENGINE_DEFAULTS, **(params or {})}
    utils = _napari_free("utils")
    from empanada.data.utils import resize_by_factor
    from empanada.inference.engines import PanopticDeepLabRenderEngine

    config = model_config(model_file)
    dev = _device(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; MitoNet ships as TorchScript
        model = utils.load_model_to_device(str(model_file), dev).to(dev).eval()
    engine = PanopticDeepLabRenderEngine(
        model, thing_list=config["thing_list"], label_divisor=p["label_divisor"], nms_threshold=p["nms_threshold"],
        nms_kernel=p["nms_kernel"], confidence_thr=p["confidence_thr"], padding_factor=config["padding_factor"],
        coarse_boundaries=not p["fine_boundaries"],
    )
    preprocessor = utils.Preprocessor(**config["norms"])
    out = np.zeros(images.shape, dtype=bool)
    for z in tqdm(range(len(images)), desc=f"MitoNet {scale}x", unit="section", disable=not progress):
        size = images[z].shape
        image = preprocessor(resize_by_factor(np.ascontiguousarray(images[z]), scale))["image"].unsqueeze(0)
        with torch.inference_mode():
            pan_seg = engine(image, size, upsampling=scale)
        out[z] = pan_seg.squeeze().cpu().numpy() > 0
    return out


def patch_origins(shape: tuple[int, int, int], patch: int, mode: str, *, count: int = 32, spacing: int = 256, seed: int = 0) -> list[tuple[int, int, int]]:
    """(z, y, x) top-left corners of the fine-tuning patches of a (Z, H, W) training stack.

    ``random``: ``count`` points placed uniformly at random (seeded), each the centre of a
    patch clamped into its section, as napari's patch picker does with points.
    ``grid``: every section tiled by patches ``spacing`` px apart (a remainder narrower than a
    patch at the far edge is left out, as with our own patches), so all training masks are used.
    """
    z, h, w = shape
    if h < patch or w < patch:
        raise ValueError(f"training sections {h}x{w} are smaller than the {patch}px MitoNet patch")
    if mode == "grid":
        return [tuple(o) for o in tile_origins(shape, (1, patch, patch), (1, spacing, spacing))]
    if mode != "random":
        raise ValueError(f"unknown patch mode {mode!r} (random or grid)")
    rng = np.random.default_rng(seed)
    origins = []
    for _ in range(count):
        cz, cy, cx = int(rng.integers(z)), int(rng.integers(h)), int(rng.integers(w))
        origins.append((cz, min(max(cy - patch // 2, 0), h - patch), min(max(cx - patch // 2, 0), w - patch)))
    return origins


def write_patches(out_dir: str | Path, images: np.ndarray, labels: np.ndarray, origins: list[tuple[int, int, int]], patch: int, name: str = "train") -> int:
    """Write patches in empanada's dataset layout; masks hold 8-connected instance ids. Returns the count."""
    root = Path(out_dir) / name
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i, (z, y, x) in enumerate(origins):
        box = (z, slice(y, y + patch), slice(x, x + patch))
        instances, _ = ndimage.label(labels[box] != 0, structure=np.ones((3, 3)))
        tifffile.imwrite(root / "images" / f"{i:05d}.tiff", np.ascontiguousarray(images[box]))
        tifffile.imwrite(root / "masks" / f"{i:05d}.tiff", instances.astype(np.int32))
    return len(origins)


def _finetune_config(model_file: Path, train_dir: Path, model_dir: Path, n_images: int, *, iterations: int, batch_size: int,
                     patch: int, finetune_layer: str, workers: int, amp: bool) -> dict[str, Any]:
    """The config empanada-napari's fine-tuning widget builds, for a run of ``iterations`` steps."""
    from empanada.config_loaders import load_config

    config = load_config(str(_package_dir() / "training" / "finetune_config.yaml"))
    mc = model_config(model_file)
    config["MODEL"] = {k: v for k, v in mc.items() if k != "FINETUNE"}
    config["FINETUNE"] = mc["FINETUNE"]
    if n_images < batch_size:
        raise ValueError(f"MitoNet fine-tuning needs at least batch_size={batch_size} patches, got {n_images}")
    epochs = max(1, iterations // (n_images // batch_size))
    train = config["TRAIN"]
    train.update(train_dir=str(train_dir), model_dir=str(model_dir), finetune_layer=finetune_layer, batch_size=batch_size,
                 workers=workers, amp=amp, save_freq=epochs)
    train["schedule_params"]["epochs"] = epochs
    for aug in train["augmentations"]:
        for k in aug:
            if ("height" in k or "width" in k) and aug[k] is None:
                aug[k] = patch
    config["EVAL"].update(eval_dir=None, epochs_per_eval=epochs)
    for metric in train["metrics"] + config["EVAL"]["metrics"]:
        metric["labels"] = config["MODEL"]["labels"] if metric["metric"] in ("IoU", "PQ") else config["MODEL"]["thing_list"]
    config["model_name"] = "finetuned"
    return config


def finetune(model_file: str | Path, images: np.ndarray, labels: np.ndarray, out_model: str | Path, *, mode: str, patch: int = 256,
             count: int = 32, spacing: int = 256, iterations: int = 1000, batch_size: int = 16, finetune_layer: str = "none",
             workers: int = 4, amp: bool = True, seed: int = 0) -> dict[str, Any]:
    """Fine-tune MitoNet on patches of a training stack with empanada-napari's fine-tuning; write ``out_model``.

    The paper does not give the number of iterations; the widget turns iterations into whole
    epochs (at least one), and the summary records the epochs and steps actually run.
    """
    if labels.shape != images.shape:
        raise ValueError(f"training labels {labels.shape} != images {images.shape}")
    finetune_module = _napari_free("finetune")
    origins = patch_origins(images.shape, patch, mode, count=count, spacing=spacing, seed=seed)
    out_model = Path(out_model)
    out_model.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_model.parent, prefix=".mitonet-") as tmp:
        train_dir, model_dir = Path(tmp) / "data", Path(tmp) / "model"
        n = write_patches(train_dir, images, labels, origins, patch)
        config = _finetune_config(Path(model_file), train_dir, model_dir, n, iterations=iterations, batch_size=batch_size, patch=patch,
                                  finetune_layer=finetune_layer, workers=workers, amp=amp and torch.cuda.is_available())
        epochs = config["TRAIN"]["schedule_params"]["epochs"]
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit / torch.cuda.amp deprecations inside empanada
            finetune_module.main(config)
        with atomic_path(out_model) as tmp_out:
            shutil.move(str(model_dir / "finetuned.pth"), tmp_out)
    return {"mode": mode, "patches": n, "patch": patch, "epochs": epochs, "steps": epochs * (n // batch_size),
            "batch_size": batch_size, "finetune_layer": finetune_layer,
            "patches_with_objects": sum(bool(labels[z, y:y + patch, x:x + patch].any()) for z, y, x in origins)}
