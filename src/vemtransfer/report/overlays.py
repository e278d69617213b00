"""Figs. 3-5: predictions drawn over the data, as pure functions of cached prediction volumes.

Fig. 3 renders the binarised 3D prediction of a baseline and a transferred model, objects
overlapping the ground truth by < 50 % in red. Fig. 4 shows one test section with the
prediction in red and a matched zoom-in. Fig. 5 renders the meshes of a whole-volume
prediction (mito red, ER yellow) in perspective, from the top and from the side. Meshes for
drawing are built from a mask max-pooled to at most ``render_px`` in y/x: matplotlib cannot
draw the millions of faces of a full-resolution liver volume, and the saved .ply files keep
full resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402

from vemtransfer.core.storage import atomic_path  # noqa: E402
from vemtransfer.data.patches import Volume  # noqa: E402
from vemtransfer.inference.meshes import mesh_from_mask  # noqa: E402
from vemtransfer.model.metrics import confusion, scores  # noqa: E402
from vemtransfer.report.objects import split_by_overlap  # noqa: E402

DEMO_TITLE = "DEMO OUTPUT - synthetic data, not the paper's results"
VIEWS = {"perspective": (25, -60), "top": (90, -90), "side": (0, -90)}


def downsample(mask: np.ndarray, render_px: int) -> tuple[np.ndarray, int]:
    """Max-pool a (z, y, x) mask in y/x so neither exceeds ``render_px``; returns (mask, factor)."""
    f = max(1, int(np.ceil(max(mask.shape[1:]) / render_px)))
    if f == 1:
        return np.asarray(mask, bool), 1
    z, y, x = mask.shape
    pad = np.zeros((z, -(-y // f) * f, -(-x // f) * f), bool)
    pad[:, :y, :x] = np.asarray(mask, bool)
    return pad.reshape(z, pad.shape[1] // f, f, pad.shape[2] // f, f).any(axis=(2, 4)), f


def _draw_mesh(ax, mask: np.ndarray, spacing: Sequence[float], colour: str, alpha: float = 0.9) -> None:  # noqa: ANN001
    if not mask.any():
        return
    verts, faces = mesh_from_mask(mask, spacing)
    xyz = verts[:, ::-1]  # (z, y, x) -> (x, y, z) for the plot axes
    ax.add_collection3d(Poly3DCollection(xyz[faces], facecolors=colour, edgecolors=colour, linewidths=0, alpha=alpha, shade=True))


def _frame(ax, shape: Sequence[int], spacing: Sequence[float], view: tuple[float, float]) -> None:  # noqa: ANN001
    size = [n * s for n, s in zip(shape, spacing)]
    ax.set_xlim(0, size[2])
    ax.set_ylim(0, size[1])
    ax.set_zlim(0, size[0])
    ax.set_box_aspect((size[2], size[1], size[0]))
    ax.view_init(*view)
    ax.set_axis_off()


def _save(fig: plt.Figure, out_path: str | Path, demo: bool) -> None:
    if demo:
        fig.suptitle(DEMO_TITLE, color="tab:red", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_fig3(predictions: Mapping[str, np.ndarray], label: np.ndarray, spacing: Sequence[float], out_path: str | Path, demo: bool, render_px: int = 160) -> None:
    """One 3D panel per model: correct objects grey, objects with < 50 % overlap red, IoU in the title."""
    fig = plt.figure(figsize=(5 * len(predictions), 5))
    for i, (title, pred) in enumerate(predictions.items()):
        pred = np.asarray(pred, bool)
        iou = scores(confusion(pred, np.asarray(label) > 0))["iou_fg"] or 0.0
        good, bad = split_by_overlap(pred, np.asarray(label) > 0)
        ax = fig.add_subplot(1, len(predictions), i + 1, projection="3d")
        (g, f), (b, _) = downsample(good, render_px), downsample(bad, render_px)
        sp = (spacing[0], spacing[1] * f, spacing[2] * f)
        _draw_mesh(ax, g, sp, "lightgrey")
        _draw_mesh(ax, b, sp, "red")
        _frame(ax, g.shape, sp, VIEWS["perspective"])
        ax.set_title(f"{title}\nIoU {iou:.3f}; red: objects < 50 % on the ground truth", fontsize=9)
    _save(fig, out_path, demo)


def _zoom_box(shape: Sequence[int], zoom: float) -> tuple[slice, slice]:
    h, w = max(8, int(shape[0] * zoom)), max(8, int(shape[1] * zoom))
    y0, x0 = (shape[0] - h) // 2, (shape[1] - w) // 2
    return slice(y0, y0 + h), slice(x0, x0 + w)


def plot_fig4(rows: Sequence[tuple[str, Volume, Mapping[str, np.ndarray]]], section: int | None, zoom: float, out_path: str | Path, demo: bool) -> None:
    """Per row (an organelle): for each model, the section with the prediction in red and a matched zoom-in."""
    n_cols = max(len(models) for _, _, models in rows) * 2
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(3 * n_cols, 3.2 * len(rows)), squeeze=False)
    for r, (name, test, models) in enumerate(rows):
        z = test.image.shape[0] // 2 if section is None else section
        image, label = np.asarray(test.image[z]), np.asarray(test.label[z]) > 0
        box = _zoom_box(image.shape, zoom)
        for c, (title, pred) in enumerate(models.items()):
            p = np.asarray(pred[z], bool)
            iou = scores(confusion(p, label))["iou_fg"] or 0.0
            rgb = np.repeat(image[..., None], 3, axis=2).astype(float) / 255
            rgb[p] = 0.5 * rgb[p] + 0.5 * np.array([1.0, 0.0, 0.0])
            for k, (view, sub) in enumerate(((rgb, "section"), (rgb[box], "zoom"))):
                ax = axes[r][2 * c + k]
                ax.imshow(view)
                ax.set_axis_off()
                ax.set_title(f"{name}: {title}\n{sub}, IoU {iou:.3f} (section {z})", fontsize=8)
            axes[r][2 * c].add_patch(plt.Rectangle((box[1].start, box[0].start), box[1].stop - box[1].start,
                                                   box[0].stop - box[0].start, fill=False, edgecolor="yellow"))
    _save(fig, out_path, demo)


def plot_fig5(masks: Mapping[str, np.ndarray], colours: Mapping[str, str], spacing: Sequence[float], out_path: str | Path, demo: bool, render_px: int = 160) -> None:
    """Whole-volume prediction: all organelles and each alone in perspective, all from the top and the side."""
    panels = [("all", list(masks), "perspective")] + [(n, [n], "perspective") for n in masks] + [("all, top", list(masks), "top"), ("all, side", list(masks), "side")]
    fig = plt.figure(figsize=(4 * len(panels), 4.2))
    small = {n: downsample(m, render_px) for n, m in masks.items()}
    for i, (title, names, view) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        for n in names:
            m, f = small[n]
            _draw_mesh(ax, m, (spacing[0], spacing[1] * f, spacing[2] * f), colours[n], alpha=0.8)
        m, f = next(iter(small.values()))
        _frame(ax, m.shape, (spacing[0], spacing[1] * f, spacing[2] * f), VIEWS[view])
        ax.set_title(f"{title} ({view})", fontsize=9)
    _save(fig, out_path, demo)
