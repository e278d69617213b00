"""Tests for the synthetic VEM-like tissue generator used by the offline demo."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy import ndimage

from vemtransfer.config.tissues import OBJECTS, TISSUES
from vemtransfer.data.synthetic import generate_tissue

SHAPE = (48, 128, 128)
FRACTIONS = {
    ("brain", "neurite"): (0.55, 0.80),
    ("kidney", "mito"): (0.08, 0.25),
    ("liver", "mito"): (0.08, 0.25),
    ("liver", "er"): (0.03, 0.12),
    ("liver", "ld"): (0.02, 0.12),
}


@cache
def _volume(tissue: str, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Generate each (tissue, seed) once per test session; callers must not modify it."""
    return generate_tissue(tissue, SHAPE, seed)


def test_public_constants() -> None:
    assert TISSUES == ("brain", "kidney", "liver")
    assert OBJECTS == {"brain": ("neurite",), "kidney": ("mito",), "liver": ("mito", "er", "ld")}


@pytest.mark.parametrize("tissue", TISSUES)
def test_types_shapes_and_object_names(tissue: str) -> None:
    shape = (7, 40, 56)  # all axes different, so a transposed output would be caught
    img, masks = generate_tissue(tissue, shape, seed=3)
    assert img.dtype == np.uint8 and img.shape == shape
    assert tuple(masks) == OBJECTS[tissue]
    for mask in masks.values():
        assert mask.dtype == bool and mask.shape == shape


@pytest.mark.parametrize("tissue", TISSUES)
def test_deterministic_in_seed(tissue: str) -> None:
    img, masks = _volume(tissue, 0)
    img2, masks2 = generate_tissue(tissue, SHAPE, 0)
    assert img.tobytes() == img2.tobytes()
    assert all(np.array_equal(masks[k], masks2[k]) for k in masks)
    other, other_masks = _volume(tissue, 1)
    assert not np.array_equal(img, other)
    assert not all(np.array_equal(masks[k], other_masks[k]) for k in masks)


def test_unknown_tissue_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="brain.*kidney.*liver"):
        generate_tissue("heart", (4, 16, 16), 0)


@pytest.mark.parametrize("shape", [(16, 16), (4, 16, 16, 1), (0, 16, 16), (4, -1, 16), (4.0, 16, 16)])
def test_bad_shape_rejected(shape: tuple) -> None:
    with pytest.raises(ValueError, match="shape"):
        generate_tissue("brain", shape, 0)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("tissue", TISSUES)
def test_foreground_fractions(tissue: str, seed: int) -> None:
    _, masks = _volume(tissue, seed)
    for name, mask in masks.items():
        lo, hi = FRACTIONS[tissue, name]
        assert lo <= mask.mean() <= hi, (tissue, name, mask.mean())


def test_liver_organelles_do_not_overlap() -> None:
    _, m = _volume("liver", 0)
    assert not (m["ld"] & m["mito"]).any()
    assert not (m["er"] & (m["ld"] | m["mito"])).any()


@pytest.mark.parametrize("tissue", ["kidney", "liver"])
def test_objects_are_anisotropic_and_learnable_size(tissue: str) -> None:
    labels, _ = ndimage.label(_volume(tissue, 0)[1]["mito"])
    boxes = [b for b in ndimage.find_objects(labels) if b is not None]
    z_ext = np.array([b[0].stop - b[0].start for b in boxes])
    y_ext = np.array([b[1].stop - b[1].start for b in boxes])
    assert len(boxes) >= 20
    assert z_ext.mean() < 0.5 * y_ext.mean()  # z sections are ~4x thicker than y/x pixels
    assert 6 <= np.median(y_ext) <= 40  # fits a 48x48 training patch


def test_tissues_differ_in_intensity() -> None:
    brain, liver = _volume("brain", 0)[0], _volume("liver", 0)[0]
    assert abs(float(brain.mean()) - float(liver.mean())) > 30


@pytest.mark.parametrize("tissue", TISSUES)
def test_images_are_gray_and_not_saturated(tissue: str) -> None:
    img = _volume(tissue, 0)[0]
    assert img.std() > 15
    assert np.mean((img == 0) | (img == 255)) < 0.01


def test_labels_are_visible_in_the_image() -> None:
    brain, bm = _volume("brain", 0)
    assert brain[~bm["neurite"]].mean() < brain[bm["neurite"]].mean() - 40  # dark membranes
    for tissue in ("kidney", "liver"):
        img, m = _volume(tissue, 0)
        assert img[~m["mito"]].mean() - img[m["mito"]].mean() > 25, tissue
    liver, lm = _volume("liver", 0)
    rest = ~(lm["mito"] | lm["er"] | lm["ld"])
    assert liver[lm["ld"]].mean() > liver[rest].mean() + 25  # bright lipid droplets
    assert liver[lm["er"]].mean() < liver[rest].mean() - 25  # dark ER membranes


def test_sections_vary_in_brightness() -> None:
    img = _volume("kidney", 0)[0].astype(float)
    slice_means = img.mean(axis=(1, 2))
    assert slice_means.std() > 1.0
