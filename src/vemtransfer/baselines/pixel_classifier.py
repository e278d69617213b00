"""A random-forest pixel classifier on multiscale filter features: ilastik's default kind.

Why it is here: it is what a lab tries first (ilastik's "Pixel Classification" workflow), it
needs no GPU and no pretraining, and on a volume the network was not tuned for it is a bar the
network has to clear before its extra cost is worth anything. The recipe follows ilastik's
defaults as closely as scikit-image and scikit-learn allow:

- features per pixel, computed in 2-D on each section (what ilastik does for anisotropic
  stacks): the intensity, and at every sigma of :data:`SIGMAS` the Gaussian smoothing, the
  Gaussian gradient magnitude, the Laplacian of Gaussian, the difference of Gaussians, the two
  Hessian eigenvalues and the two structure-tensor eigenvalues (:func:`section_features`);
- a scikit-learn :class:`~sklearn.ensemble.RandomForestClassifier` of 100 trees (ilastik's
  count), seeded, on a bounded random sample of labelled pixels with as many foreground as
  background pixels (a user's scribbles are roughly balanced; a dense mask of 2 % foreground is
  not), so training time does not grow with the volume;
- labels are 0/1 with :data:`~vemtransfer.data.splits.IGNORE` (255) for unlabelled pixels, which are
  never sampled and never scored, so sparse scribbles and dense masks are the same case;
- the decision threshold on the foreground probability is chosen on the validation split
  (balanced sampling shifts the forest's probabilities towards the foreground, so 0.5 is rarely
  the best cut) or fixed by the caller;
- prediction runs section by section and in chunks of pixels, so memory stays bounded by one
  section's features whatever the volume's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage
from skimage.feature import (
    hessian_matrix,
    hessian_matrix_eigvals,
    structure_tensor,
    structure_tensor_eigenvalues,
)

if TYPE_CHECKING:
    from sklearn.ensemble import RandomForestClassifier

IGNORE = 255
"""Label value of unlabelled pixels (as in :data:`vemtransfer.data.splits.IGNORE`; repeated, not imported,
so this module does not pull in torch)."""
SIGMAS: tuple[float, ...] = (0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
"""ilastik's default feature scales (its 0.3 is left out: below a pixel it adds noise, not information)."""
PER_SIGMA = ("gaussian", "gradient_magnitude", "laplacian_of_gaussian", "difference_of_gaussians",
             "hessian_eig_1", "hessian_eig_2", "structure_tensor_eig_1", "structure_tensor_eig_2")
THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.025), 3)
"""Candidate cuts on the foreground probability when the threshold is chosen on validation."""
PREDICT_CHUNK = 1 << 18
"""Pixels per ``predict_proba`` call: bounds the forest's per-call buffers."""


@dataclass(frozen=True)
class ForestSettings:
    """How the forest is trained; the defaults are ilastik's (100 trees) and a sample that trains
    in about a minute on two cores."""

    trees: int = 100
    samples: int = 200_000
    """Labelled pixels drawn for training (half foreground, half background, fewer if fewer exist)."""
    sigmas: tuple[float, ...] = SIGMAS
    min_samples_leaf: int = 1
    seed: int = 0
    threads: int = 1


def feature_names(sigmas: Sequence[float] = SIGMAS) -> list[str]:
    """Names of :func:`section_features`' channels, in order (for logs and feature importances)."""
    return ["intensity", *(f"{name}_s{s:g}" for s in sigmas for name in PER_SIGMA)]


def section_features(section: np.ndarray, sigmas: Sequence[float] = SIGMAS) -> np.ndarray:
    """(H, W, F) float32 features of one 2-D section (see :func:`feature_names`).

    Intensities are scaled to [0, 1] by the uint8 range, not per section, so that a feature means
    the same on every section and volume. The structure tensor integrates at ``sigma`` over
    gradients taken at ``sigma / 2`` (ilastik's inner/outer scale ratio).
    """
    if section.ndim != 2:
        raise ValueError(f"a section must be 2-D, got shape {section.shape}")
    image = np.asarray(section, dtype=np.float32) / 255.0
    channels = [image]
    for s in sigmas:
        smooth = ndimage.gaussian_filter(image, s, mode="reflect")
        channels += [smooth, ndimage.gaussian_gradient_magnitude(image, s, mode="reflect"),
                     ndimage.gaussian_laplace(image, s, mode="reflect"), smooth - ndimage.gaussian_filter(image, 1.66 * s, mode="reflect")]
        hessian = hessian_matrix(image, sigma=s, order="rc", use_gaussian_derivatives=True, mode="reflect")
        channels += list(hessian_matrix_eigvals(hessian))
        tensor = structure_tensor(ndimage.gaussian_filter(image, s / 2, mode="reflect"), sigma=s, order="rc", mode="reflect")
        channels += list(structure_tensor_eigenvalues(tensor))
    return np.stack(channels, axis=-1).astype(np.float32, copy=False)


def sample_pixels(label: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Flat indices into ``label`` of up to ``samples`` labelled pixels, half of each class.

    Pixels marked :data:`IGNORE` (or any value other than 0/1) are never drawn. A class with fewer
    pixels than its half gives all it has; the other class does not make up the difference, so
    the sample stays balanced. Sorted, so features can be gathered section by section.
    """
    flat = np.asarray(label).reshape(-1)
    rng = np.random.default_rng(seed)
    where = [np.flatnonzero(flat == cls) for cls in (0, 1)]
    for cls, w in enumerate(where):
        if w.size == 0:
            raise ValueError(f"the training labels hold no pixel of class {cls}: the pixel classifier needs both")
    n = min(samples // 2, *(w.size for w in where))
    chosen = [rng.choice(w, n, replace=False) for w in where]
    return np.sort(np.concatenate(chosen))


def gather_features(image: np.ndarray, flat_index: np.ndarray, sigmas: Sequence[float] = SIGMAS) -> np.ndarray:
    """(N, F) features of the pixels ``flat_index`` (sorted flat indices) of a (Z, H, W) stack,
    computing each section's features only if it holds a sampled pixel."""
    z_of = flat_index // (image.shape[1] * image.shape[2])
    out = np.empty((len(flat_index), len(feature_names(sigmas))), dtype=np.float32)
    for z in np.unique(z_of):
        rows = np.flatnonzero(z_of == z)
        features = section_features(np.asarray(image[z]), sigmas).reshape(-1, out.shape[1])
        out[rows] = features[flat_index[rows] - z * image.shape[1] * image.shape[2]]
    return out


def train_forest(image: np.ndarray, label: np.ndarray, settings: ForestSettings = ForestSettings()) -> RandomForestClassifier:
    """A :class:`~sklearn.ensemble.RandomForestClassifier` trained on a balanced sample of the
    labelled pixels of a (Z, H, W) uint8 stack; ``label`` 0/1 with :data:`IGNORE` for unlabelled."""
    from sklearn.ensemble import RandomForestClassifier

    if image.shape != label.shape or image.ndim != 3:
        raise ValueError(f"image {image.shape} and label {label.shape} must be the same (z, y, x) shape")
    index = sample_pixels(label, settings.samples, settings.seed)
    x = gather_features(image, index, settings.sigmas)
    y = np.asarray(label).reshape(-1)[index]
    forest = RandomForestClassifier(n_estimators=settings.trees, min_samples_leaf=settings.min_samples_leaf,
                                    n_jobs=settings.threads, random_state=settings.seed)
    return forest.fit(x, y)


def predict_sections(forest: RandomForestClassifier, image: np.ndarray, sigmas: Sequence[float] = SIGMAS) -> np.ndarray:
    """(Z, H, W) float32 foreground probability of a stack, one section (and chunk of pixels) at a time."""
    n = len(feature_names(sigmas))
    if forest.n_features_in_ != n:
        raise ValueError(f"the forest was trained on {forest.n_features_in_} features, sigmas {list(sigmas)} give {n}: "
                         "predict with the sigmas it was trained with")
    fg = list(forest.classes_).index(1)
    out = np.empty(image.shape, dtype=np.float32)
    for z in range(len(image)):
        features = section_features(np.asarray(image[z]), sigmas).reshape(-1, len(feature_names(sigmas)))
        prob = out[z].reshape(-1)
        for start in range(0, len(features), PREDICT_CHUNK):
            prob[start:start + PREDICT_CHUNK] = forest.predict_proba(features[start:start + PREDICT_CHUNK])[:, fg]
    return out


def iou_counts(pred: np.ndarray, label: np.ndarray) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of a binary prediction, IGNORE left out."""
    label = np.asarray(label)
    scored = (label == 0) | (label == 1)
    p, t = pred[scored], label[scored] == 1
    return int(np.sum(p & t)), int(np.sum(p & ~t)), int(np.sum(~p & t))


def choose_threshold(probs: Iterable[tuple[np.ndarray, np.ndarray]], candidates: Sequence[float] = THRESHOLDS) -> tuple[float, float]:
    """(threshold, foreground IoU) of the cut on the foreground probability with the highest IoU
    pooled over ``probs``' (probability, label) pairs (whole validation split, or its crops)."""
    counts = np.zeros((len(candidates), 3), dtype=np.int64)
    for prob, label in probs:
        for i, t in enumerate(candidates):
            counts[i] += iou_counts(prob > t, label)
    denominator = counts.sum(axis=1)
    iou = np.where(denominator > 0, counts[:, 0] / np.maximum(denominator, 1), 0.0)
    best = int(np.argmax(iou))
    return float(candidates[best]), float(iou[best])


@dataclass(frozen=True)
class PixelClassifierRun:
    """What :func:`fit_and_predict` returns: the forest's test probability and how it was chosen."""

    test_prob: np.ndarray
    threshold: float
    val_iou: float | None
    """Foreground IoU at ``threshold`` on the validation regions (None without validation)."""
    train_pixels: int
    seconds_train: float
    seconds_predict: float


def crops_of(volume: np.ndarray, crops: Sequence[tuple[int, int, int]] | None, size: Sequence[int] | None) -> list[np.ndarray]:
    """The (z, y, x) crops of ``size`` at ``crops`` of a volume, or the whole volume (``crops`` None)."""
    if crops is None:
        return [np.asarray(volume)]
    return [np.asarray(volume[tuple(slice(o, o + s) for o, s in zip(c, size))]) for c in crops]


def fit_and_predict(train: tuple[np.ndarray, np.ndarray], test_image: np.ndarray, settings: ForestSettings = ForestSettings(),
                    val: tuple[np.ndarray, np.ndarray] | None = None, val_crops: Sequence[tuple[int, int, int]] | None = None,
                    val_size: Sequence[int] | None = None, threshold: float | None = None) -> PixelClassifierRun:
    """Train on ``train`` (image, label), choose the threshold on ``val`` (its ``val_crops`` of
    ``val_size``, as the networks' model selection scores them, or the whole split), predict ``test_image``.

    ``threshold`` fixes the cut instead (its validation IoU is still reported when ``val`` is given);
    without either, 0.5. Only the validation sections a crop touches are predicted.
    """
    import time

    started = time.perf_counter()
    forest = train_forest(*train, settings)
    trained = time.perf_counter()
    val_iou = None
    if val is not None:
        image, label = val
        zs = sorted({z for c in val_crops for z in range(c[0], c[0] + val_size[0])}) if val_crops is not None else range(len(image))
        prob = np.zeros(image.shape, dtype=np.float32)
        prob[list(zs)] = predict_sections(forest, np.asarray(image[list(zs)]), settings.sigmas)
        pairs = list(zip(crops_of(prob, val_crops, val_size), crops_of(label, val_crops, val_size)))
        threshold, val_iou = choose_threshold(pairs, THRESHOLDS if threshold is None else [threshold])
    test_prob = predict_sections(forest, test_image, settings.sigmas)
    label = np.asarray(train[1])
    n_train = 2 * min(settings.samples // 2, int(np.sum(label == 0)), int(np.sum(label == 1)))
    return PixelClassifierRun(test_prob, 0.5 if threshold is None else threshold, val_iou, n_train, trained - started,
                              time.perf_counter() - trained)
