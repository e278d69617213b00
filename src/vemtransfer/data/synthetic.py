"""Small synthetic VEM-like volumes with organelle labels, for the offline demo and the tests.

The real benchmark volumes (SNEMI3D, UroCell, liver FIB-SEM) cannot be downloaded in the
offline CPU demo, yet the demo must still show *transfer learning*: a network pretrained on
one task and fine-tuned on another. So this module fakes three "tissues" that differ in
objects, sizes, contrast and noise (domain shift) but share the low-level EM look that
pretraining can reuse: thin dark membranes, dark textured organelles, grain and shot noise.
Objects are built in physical coordinates and sampled anisotropically (z spacing 4x y/x, with
per-section misalignment and brightness jitter), as in SBF-SEM/ssTEM stacks. This is not a
model of real biology; it only has to be plausible, deterministic, fast and learnable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from vemtransfer.config.tissues import OBJECTS, TISSUES

Z_SPACING = 4.0  # physical z size of a voxel, in units of the y/x pixel size

Region = tuple[slice, slice, slice]


@dataclass(frozen=True)
class _Grid:
    """Voxel grid plus per-section y/x misalignment, so all objects share the same jitter."""

    shape: tuple[int, int, int]
    dy: np.ndarray
    dx: np.ndarray

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        """A uniform physical (z, y, x) position inside the volume."""
        z, y, x = self.shape
        return rng.uniform((0.0, 0.0, 0.0), (z * Z_SPACING, y, x))


@dataclass(frozen=True)
class _Blob:
    """One placed ellipsoid, in its bounding box `region`: normalised radius r (< 1 inside),
    approximate distance to its surface `depth`, and local coordinates q (long axis first)."""

    region: Region
    r: np.ndarray
    depth: np.ndarray
    q: np.ndarray


Painter = Callable[[np.ndarray, _Blob], None]


# Imaging per tissue (the domain shift): gray range lo..hi, gamma, blur sigma in px,
# photon counts at full brightness (shot noise) and Gaussian read noise.
_STYLES: dict[str, tuple[float, float, float, float, float, float]] = {
    "brain": (25, 240, 0.9, 0.7, 80, 0.03),
    "kidney": (35, 215, 1.0, 0.8, 70, 0.04),
    "liver": (10, 200, 1.25, 0.6, 60, 0.04),
}


def _offsets(grid: _Grid, center: np.ndarray, ext: float) -> tuple[Region, np.ndarray] | None:
    """Physical offsets (3, z, y, x) from `center` for the voxels of a box of half-size `ext`."""
    z, y, x = grid.shape
    cz, cy, cx = center
    k0, k1 = max(0, int(np.ceil((cz - ext) / Z_SPACING))), min(z, int((cz + ext) / Z_SPACING) + 1)
    y0, y1 = max(0, int(cy - ext - 2)), min(y, int(cy + ext + 3))
    x0, x1 = max(0, int(cx - ext - 2)), min(x, int(cx + ext + 3))
    if k0 >= k1 or y0 >= y1 or x0 >= x1:
        return None
    k = np.arange(k0, k1)
    d = np.broadcast_arrays(
        (k * Z_SPACING - cz)[:, None, None],
        np.arange(y0, y1)[None, :, None] + grid.dy[k][:, None, None] - cy,
        np.arange(x0, x1)[None, None, :] + grid.dx[k][:, None, None] - cx,
    )
    return (slice(k0, k1), slice(y0, y1), slice(x0, x1)), np.stack(d)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3D rotation matrix (columns = the object's local axes)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def _crowded(occupied: np.ndarray, center: np.ndarray, radius: float) -> bool:
    """Cheap early rejection: is anything already within ~`radius` of `center`?"""
    lo = np.floor((center - radius) / (Z_SPACING, 1, 1)).astype(int).clip(0)
    hi = np.ceil((center + radius) / (Z_SPACING, 1, 1)).astype(int) + 1
    return bool(occupied[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].any())


def _scatter(
    img: np.ndarray,
    occupied: np.ndarray,
    grid: _Grid,
    rng: np.random.Generator,
    target: float,
    axes_range: tuple[tuple[float, float], tuple[float, float]],
    paint: Painter,
    max_tries: int = 10000,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Place non-touching random ellipsoids until they fill `target` of the volume.

    Filling to a target fraction (not a fixed count) keeps label fractions stable across
    seeds. `paint(img, blob)` draws each placed object into img.
    """
    mask = np.zeros(grid.shape, bool)
    placed: list[tuple[np.ndarray, np.ndarray]] = []
    count, goal = 0, target * mask.size
    (long_lo, long_hi), (short_lo, short_hi) = axes_range
    for _ in range(max_tries):
        if count >= goal:
            break
        axes = np.array([rng.uniform(long_lo, long_hi), *rng.uniform(short_lo, short_hi, 2)])
        center = grid.random_point(rng)
        if _crowded(occupied, center, axes.min()):
            continue
        box = _offsets(grid, center, axes.max() * 1.1)
        if box is None:
            continue
        region, d = box
        q = np.einsum("ji,j...->i...", _rotation(rng), d)
        r = np.sqrt(sum((q[i] / axes[i]) ** 2 for i in range(3)))
        inside = r < 1
        if not inside.any() or (occupied[region] & (r < 1.1)).any():
            continue
        grad = np.sqrt(sum(q[i] ** 2 / axes[i] ** 4 for i in range(3)))
        paint(img, _Blob(region, r, (1 - r) * r / np.maximum(grad, 1e-6), q))
        mask[region] |= inside
        occupied[region] |= inside
        count += int(inside.sum())
        placed.append((center, axes))
    return mask, placed


def _mito_painter(matrix: float, crista: float, rim: float, period: float) -> Painter:
    """Mitochondria: dark outer membrane and lamellar cristae across the long axis."""

    def paint(img: np.ndarray, b: _Blob) -> None:
        view, inside = img[b.region], b.r < 1
        phase = (b.q[0] + 1.2 * np.sin(0.7 * b.q[1])) / period
        view[inside] = matrix
        view[inside & (np.abs(phase - np.round(phase)) < 0.2) & (b.depth > 1.6)] = crista
        view[inside & (b.depth < 1.4)] = rim

    return paint


def _blob_painter(value: float | np.ndarray, rim: float, rim_width: float) -> Painter:
    """Round objects (lipid droplets, vesicles, nuclei) with a thin rim, filled with a constant
    or with a whole-volume texture `value`."""

    def paint(img: np.ndarray, b: _Blob) -> None:
        view, inside = img[b.region], b.r < 1
        view[inside] = np.broadcast_to(value, img.shape)[b.region][inside]
        view[inside & (b.depth < rim_width)] = rim

    return paint


def _texture(shape: tuple[int, ...], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std band-limited noise: cytoplasmic grain (small sigma) or mottling."""
    t = ndimage.gaussian_filter(rng.standard_normal(shape), (0.5, sigma, sigma))
    return t / (t.std() + 1e-9)


def _dots(shape: tuple[int, int, int], rng: np.random.Generator, clusters: int, per: int,
          spread: float) -> np.ndarray:
    """Blurred small dark dots (synaptic vesicles, glycogen), in [0, 1], grouped in clusters."""
    z, y, x = shape
    centers = np.repeat(rng.uniform((0, 0, 0), (z, y, x), size=(clusters, 3)), per, axis=0)
    pts = np.rint(centers + rng.normal(0, 1, centers.shape) * (0.6, spread, spread)).astype(int)
    keep = np.all((pts >= 0) & (pts < (z, y, x)), axis=1)
    dots = np.zeros(shape)
    dots[tuple(pts[keep].T)] = 1.0
    return np.minimum(ndimage.gaussian_filter(dots, (0, 0.9, 0.9)) * 6.0, 1.0)


def _voronoi(grid: _Grid, rng: np.random.Generator, diameter: float) -> np.ndarray:
    """Cell labels from drifting, additively weighted 2D seeds: cells run as tubes along z.

    A smooth in-plane warp bends the otherwise straight Voronoi edges like real membranes.
    """
    z, y, x = grid.shape
    n = max(4, int((y + 2 * diameter) * (x + 2 * diameter) / (0.9 * diameter**2)))
    base = rng.uniform((-diameter, -diameter), (y + diameter, x + diameter), size=(n, 2))
    drift = rng.normal(0.0, 0.07, size=(n, 2))  # y/x pixels per physical z unit
    weight = rng.uniform(0.0, 0.3 * diameter, size=n)
    warp = ndimage.gaussian_filter(rng.standard_normal((y, x, 2)), (5.0, 5.0, 0.0))
    warp *= min(0.12 * diameter, 2.5) / (warp.std() + 1e-9)
    pts = (np.stack(np.mgrid[0:y, 0:x], -1) + warp).reshape(-1, 2)
    labels = np.empty(grid.shape, np.int32)
    for k in range(z):
        seeds = base + drift * (k * Z_SPACING) - (grid.dy[k], grid.dx[k])
        dist, idx = cKDTree(seeds).query(pts, k=min(4, n))
        best = np.argmin(dist - weight[idx], axis=1)
        labels[k] = idx[np.arange(len(idx)), best].reshape(y, x)
    return labels


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """In-plane cell borders, 2 px thick (one on each side): the dark plasma membranes."""
    b = np.zeros(labels.shape, bool)
    dy, dx = labels[:, 1:] != labels[:, :-1], labels[:, :, 1:] != labels[:, :, :-1]
    b[:, 1:] |= dy
    b[:, :-1] |= dy
    b[:, :, 1:] |= dx
    b[:, :, :-1] |= dx
    return b


def _brain(grid: _Grid, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Densely packed neurite cross-sections, dark membranes, clustered synaptic vesicles and
    a few small mitochondria (labelled neurite: only the membranes are background)."""
    membrane = _boundaries(_voronoi(grid, rng, diameter=rng.uniform(13.0, 15.0)))
    img = 0.74 + 0.05 * _texture(grid.shape, rng, 0.8)
    img -= 0.45 * _dots(grid.shape, rng, clusters=40, per=30, spread=3.5)
    img[membrane] = 0.2 + 0.04 * rng.standard_normal(int(membrane.sum()))
    _scatter(img, membrane.copy(), grid, rng, 0.003, ((4, 8), (2.5, 3.5)),
             _mito_painter(matrix=0.42, crista=0.62, rim=0.2, period=3.0), max_tries=600)
    return img, {"neurite": ~membrane}


def _kidney(grid: _Grid, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Grainy urothelial cytoplasm: elongated mitochondria plus unlabelled look-alikes
    (a mottled nucleus, dark round vesicles) so the network must learn cristae, not darkness."""
    img = 0.68 + 0.08 * _texture(grid.shape, rng, 0.6)
    chromatin = 0.5 - 0.12 * np.tanh(1.5 * _texture(grid.shape, rng, 3.0))
    occupied = _boundaries(_voronoi(grid, rng, diameter=90.0))
    img[occupied] = 0.3
    nucleus = _blob_painter(chromatin, 0.22, 2.0)
    _scatter(img, occupied, grid, rng, 0.03, ((26, 32), (20, 26)), nucleus, max_tries=20)
    mito, _ = _scatter(img, occupied, grid, rng, rng.uniform(0.11, 0.15), ((12, 22), (6, 9)),
                       _mito_painter(matrix=0.52, crista=0.24, rim=0.16, period=5.0))
    vesicles = _blob_painter(0.2, 0.2, 0.0)
    _scatter(img, occupied, grid, rng, rng.uniform(0.01, 0.02), ((3, 6), (3, 6)), vesicles)
    return img, {"mito": mito}


def _er_sheets(
    grid: _Grid, rng: np.random.Generator, anchor: np.ndarray, gap: float
) -> tuple[Region, np.ndarray] | None:
    """A small stack of 2-4 parallel, slightly curved ER cisternae at `gap` from `anchor`.

    Sheet normals lie nearly in the y/x plane, so the sheets cut each section as thin lines.
    """
    theta = rng.uniform(0, 2 * np.pi)
    normal = np.array([rng.normal(0, 0.15), np.cos(theta), np.sin(theta)])
    normal /= np.linalg.norm(normal)
    tangent = np.array([0.0, -np.sin(theta), np.cos(theta)])
    n_sheets, spacing = int(rng.integers(2, 5)), rng.uniform(4.5, 6.5)
    half_len, half_h, half_w = rng.uniform(8, 16), rng.uniform(8, 20), n_sheets * spacing / 2
    box = _offsets(grid, anchor + normal * (gap + half_w), max(half_len, half_h, half_w) + 2)
    if box is None:
        return None
    region, d = box
    u = np.einsum("i,i...->...", tangent, d)
    s = np.einsum("i,i...->...", normal, d) + rng.normal(0, 0.015) * u**2
    envelope = (np.abs(u) < half_len) & (np.abs(d[0]) < half_h) & (np.abs(s) < half_w)
    return region, envelope & (np.abs(s - spacing * (np.floor(s / spacing) + 0.5)) < 0.9)


def _liver(grid: _Grid, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Hepatocyte cytoplasm with glycogen grain, lipid droplets, round dark mitochondria and
    stacks of rough ER, mostly lying alongside the mitochondria."""
    img = 0.56 + 0.06 * _texture(grid.shape, rng, 0.7)
    occupied = _boundaries(_voronoi(grid, rng, diameter=110.0))
    img[occupied] = 0.25
    ld, _ = _scatter(img, occupied, grid, rng, rng.uniform(0.04, 0.07), ((9, 14), (8, 12)),
                     _blob_painter(0.82, 0.35, 1.0))
    mito, placed = _scatter(img, occupied, grid, rng, rng.uniform(0.1, 0.14), ((7, 12), (5, 8)),
                            _mito_painter(matrix=0.28, crista=0.56, rim=0.1, period=4.0))
    er, er_target = np.zeros(grid.shape, bool), rng.uniform(0.05, 0.08)
    for _ in range(400):
        if er.mean() >= er_target or not placed:
            break
        center, axes = placed[int(rng.integers(len(placed)))]
        sheets = _er_sheets(grid, rng, center, axes.max() * 0.7)
        if sheets is not None:
            region, sheet = sheets
            er[region] |= sheet & ~occupied[region]
    glycogen = _dots(grid.shape, rng, clusters=60, per=20, spread=6.0)
    img -= 0.3 * glycogen * ~(occupied | er)
    img[er] = 0.2
    return img, {"mito": mito, "er": er, "ld": ld}


def _finish(img: np.ndarray, rng: np.random.Generator, tissue: str) -> np.ndarray:
    """Section-to-section brightness jitter, optical blur, tissue-specific contrast, shot and
    read noise: the imaging part of the domain shift."""
    lo, hi, gamma, blur, counts, noise = _STYLES[tissue]
    z = img.shape[0]
    img = img * (1 + rng.normal(0, 0.03, (z, 1, 1))) + rng.normal(0, 0.02, (z, 1, 1))
    img = np.clip(ndimage.gaussian_filter(img, (0, blur, blur)), 0, 1) ** gamma
    img = rng.poisson(img * counts) / counts + rng.normal(0, noise, img.shape)
    return np.clip(np.rint(lo + (hi - lo) * img), 0, 255).astype(np.uint8)


_BUILDERS = {"brain": _brain, "kidney": _kidney, "liver": _liver}


def generate_tissue(
    tissue: str, shape: tuple[int, int, int], seed: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return (image uint8 of `shape` (z, y, x), {object name: bool mask of `shape`}).

    Deterministic in `seed`, so demos and tests are reproducible without stored data. The
    object names are OBJECTS[tissue]; y/x pixels are square and z sections 4x thicker.
    """
    if tissue not in _BUILDERS:
        raise ValueError(f"unknown tissue {tissue!r}; valid tissues are {TISSUES}")
    ints = isinstance(shape, (tuple, list)) and all(isinstance(s, (int, np.integer)) for s in shape)
    if not ints or len(shape) != 3 or any(isinstance(s, bool) or s <= 0 for s in shape):
        raise ValueError(f"shape must be 3 positive ints (z, y, x), got {shape!r}")
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    grid = _Grid(shape, rng.normal(0, 0.4, shape[0]), rng.normal(0, 0.4, shape[0]))
    img, masks = _BUILDERS[tissue](grid, rng)
    return _finish(img, rng, tissue), {name: masks[name] for name in OBJECTS[tissue]}
