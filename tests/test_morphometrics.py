"""Chunked labelling must equal skimage exactly; measurements must match hand-built objects."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import zarr
from scipy import ndimage
from skimage.measure import label as sk_label

from vemtransfer.inference.labelling import label_chunked
from vemtransfer.inference.morphometrics import COLUMNS, measure, measure_objects, summarise
from vemtransfer.report.size_histogram import plot_size_distribution

SHAPE = (20, 37, 41)
CHUNKS = [(7, 10, 13), (20, 37, 41), (1, 16, 9), (6, 1, 41), (5, 12, 1), (3, 4, 5)]


def random_mask(seed: int, shape=SHAPE, foreground=0.35) -> np.ndarray:
    """Smoothed noise thresholded to ~``foreground``: blobs big enough to span chunks."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1.0)
    return (noise > np.quantile(noise, 1 - foreground)).astype(np.uint8)


def rods_and_u(shape=(24, 30, 34)) -> np.ndarray:
    """A face-connected diagonal staircase, an edge-only and a corner-only diagonal, and a U
    whose arms meet only in the last z chunk, with a small object between its arms in raster
    order."""
    m = np.zeros(shape, np.uint8)
    for i in range(min(shape) - 2):  # staircase through every axis: crosses all chunk faces
        m[i, i, i] = m[i + 1, i, i] = m[i + 1, i + 1, i] = 1
    for i in range(12):  # touches only at corners: one object for connectivity 3 only
        m[i, i, 20 + i] = 1
    for i in range(6):  # touches only along edges: one object from connectivity 2
        m[i, 16, 10 + i] = 1
    m[:, 27, 3] = m[:, 27, 30] = 1  # U arms along z, joined at the far end
    m[-1, 27, 3:31] = 1
    m[0, 28, 15] = 1  # first seen between the arms in raster order
    return m


def test_skimage_numbers_objects_in_raster_order():
    """The claim label_chunked relies on: skimage ids follow first appearance in C order."""
    for connectivity in (1, 2, 3):
        labels = sk_label(random_mask(1), connectivity=connectivity).ravel()
        ids, first = np.unique(labels[labels > 0], return_index=True)
        assert np.array_equal(ids[np.argsort(first)], np.arange(1, len(ids) + 1))


@pytest.mark.parametrize("connectivity", [1, 2, 3])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_label_chunked_equals_skimage(connectivity, chunk):
    for mask in (random_mask(connectivity), rods_and_u()):
        labels, n = label_chunked(mask, chunk, connectivity=connectivity)
        expected = sk_label(mask, connectivity=connectivity)
        assert np.array_equal(labels, expected)
        assert n == expected.max()


def test_connectivity_changes_the_diagonal_objects():
    mask = rods_and_u()
    counts = [label_chunked(mask, (5, 7, 6), connectivity=c)[1] for c in (1, 2, 3)]
    assert counts[0] > counts[1] > counts[2]


def test_zarr_in_zarr_out_and_dirty_out(tmp_path):
    mask = random_mask(7)
    chunk = (6, 11, 14)
    src = zarr.create_array(store=tmp_path / "m.zarr", shape=SHAPE, chunks=chunk, dtype="uint8")
    src[:] = mask
    dst = zarr.create_array(store=tmp_path / "l.zarr", shape=SHAPE, chunks=chunk, dtype="uint32", fill_value=0)
    _, n = label_chunked(src, chunk, out=dst, connectivity=2)
    expected = sk_label(mask, connectivity=2)
    assert np.array_equal(dst[:], expected) and n == expected.max()
    dirty = np.full(SHAPE, 12345, np.uint64)  # previous contents must not leak into the result
    assert np.array_equal(label_chunked(mask, (4, 9, 10), out=dirty, connectivity=3)[0], sk_label(mask, connectivity=3))


class Recording:
    """An array that records the shape of every read (and allows writes)."""

    def __init__(self, array: np.ndarray):
        self.array, self.shape, self.dtype, self.reads = array, array.shape, array.dtype, []

    def __getitem__(self, key):
        block = self.array[key]
        self.reads.append(block.shape)
        return block

    def __setitem__(self, key, value):
        self.array[key] = value


@pytest.mark.parametrize("connectivity", [1, 3])
def test_reads_are_bounded_by_a_chunk_plus_one_voxel_per_face(connectivity):
    chunk = (5, 8, 9)
    mask, out = Recording(random_mask(3)), Recording(np.zeros(SHAPE, np.uint32))
    labels, _ = label_chunked(mask, chunk, out=out, connectivity=connectivity)
    assert np.array_equal(labels.array, sk_label(mask.array, connectivity=connectivity))
    n_chunks = math.prod(math.ceil(s / c) for s, c in zip(SHAPE, chunk))
    assert len(mask.reads) == n_chunks  # the mask is read once, chunk by chunk
    for shape in mask.reads + out.reads:
        assert all(s <= c + 2 for s, c in zip(shape, chunk)), shape


def test_measure_cube_and_border_object():
    voxel = (30.0, 10.0, 10.0)
    labels = np.zeros((30, 90, 90), np.uint32)
    labels[5:25, 15:75, 15:75] = 1  # a 600 nm cube in the middle
    labels[0:2, 0:3, 80:90] = 2  # on the border
    table = measure_objects(labels, voxel, (8, 32, 32))
    assert list(table.columns) == list(COLUMNS)
    cube, edge = table.iloc[0], table.iloc[1]
    assert cube["voxels"] == 20 * 60 * 60
    assert cube["volume_um3"] == pytest.approx(0.6**3)
    assert [cube[f"bbox_{a}"] for a in ("z0", "y0", "x0", "z1", "y1", "x1")] == [5, 15, 15, 25, 75, 75]
    assert [cube[f"centroid_{a}_nm"] for a in "zyx"] == pytest.approx([14.5 * 30, 44.5 * 10, 44.5 * 10])
    assert cube["surface_um2"] == pytest.approx(6 * 0.6**2, rel=0.03)
    assert not cube["touches_border"] and edge["touches_border"]
    assert edge["volume_um3"] == pytest.approx(2 * 3 * 10 * 30 * 10 * 10 * 1e-9)


def test_sphere_surface_is_close_to_4_pi_r2():
    r = 14
    z, y, x = np.ogrid[-r - 2 : r + 3, -r - 2 : r + 3, -r - 2 : r + 3]
    labels = ((z * z + y * y + x * x) <= r * r).astype(np.uint8)
    area = measure_objects(labels, (10, 10, 10), (9, 9, 9))["surface_um2"].iloc[0]  # spans chunks
    # Binary marching cubes follows the voxel staircase and overestimates by ~7 %.
    assert 1.0 < area / (4 * math.pi * (r * 0.01) ** 2) < 1.10


def test_surface_is_the_same_whether_read_per_chunk_or_per_box():
    labels = label_chunked(random_mask(5), (7, 10, 13))[0]
    one_chunk = measure_objects(labels, (30, 8, 8), SHAPE)
    many = measure_objects(labels, (30, 8, 8), (4, 6, 7))
    pd.testing.assert_frame_equal(one_chunk, many)


def test_measure_writes_files(tmp_path):
    mask = random_mask(2)
    summary = measure(mask, (30, 8, 8), tmp_path / "morphometrics.csv", tmp_path / "s.json", chunk_zyx=(8, 16, 16), connectivity=1)
    table = pd.read_csv(tmp_path / "morphometrics.csv")
    assert list(table.columns) == list(COLUMNS) and len(table) == summary["count"] == sk_label(mask, connectivity=1).max()
    assert json.loads((tmp_path / "s.json").read_text()) == summary
    assert summary["volume_fraction"] == pytest.approx(mask.mean())
    assert summary["shape_zyx"] == list(SHAPE) and summary["voxel_size_nm_zyx"] == [30, 8, 8]
    assert summary["p10_volume_um3"] <= summary["median_volume_um3"] <= summary["p90_volume_um3"]
    plot_size_distribution(table, tmp_path / "v.png")
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["morphometrics.csv", "s.json", "v.png"]  # no temp files


def test_empty_mask_writes_empty_table(tmp_path):
    summary = measure(np.zeros((4, 5, 6), np.uint8), (1, 1, 1), tmp_path / "m.csv", tmp_path / "s.json")
    assert summary["count"] == 0 and summary["median_volume_um3"] is None and summary["volume_fraction"] == 0
    table = pd.read_csv(tmp_path / "m.csv")
    assert list(table.columns) == list(COLUMNS) and table.empty
    plot_size_distribution(table, tmp_path / "p.png")  # "no objects"
    assert (tmp_path / "p.png").stat().st_size > 0


def test_summary_of_known_table():
    table = pd.DataFrame({"voxels": [1, 3], "volume_um3": [1.0, 3.0], "touches_border": [True, False]})
    s = summarise(table, (2, 2, 2), (1, 1, 1))
    assert (s["count"], s["total_volume_um3"], s["volume_fraction"], s["touching_border"]) == (2, 4.0, 0.5, 1)
    assert (s["median_volume_um3"], s["mean_volume_um3"]) == (2.0, 2.0)


def test_bad_inputs_raise_helpful_errors(tmp_path):
    files = (tmp_path / "a.csv", tmp_path / "a.json")
    mask = np.zeros((4, 5, 6), np.uint8)
    mask[3, 4, 5] = 2
    with pytest.raises(ValueError, match=r"binary.*value 2"):
        measure(mask, (1, 1, 1), *files, chunk_zyx=(2, 2, 2))
    with pytest.raises(ValueError, match="3-D"):
        measure(np.zeros((5, 6), np.uint8), (1, 1, 1), *files)
    for voxel in [(1, 1), (1, 0, 1), (1, -2, 1), "abc"]:
        with pytest.raises(ValueError, match="voxel_size_nm_zyx"):
            measure(np.zeros((4, 5, 6), np.uint8), voxel, *files)
    with pytest.raises(ValueError, match="connectivity"):
        label_chunked(np.zeros((4, 5, 6), np.uint8), (2, 2, 2), connectivity=4)
    assert not any(tmp_path.iterdir())
