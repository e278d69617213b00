import re

import numpy as np
import pytest

from vemtransfer.inference.meshes import mesh_from_mask, write_obj, write_ply


def _sphere(radius: int = 8, size: int = 24, centre: int = 12) -> np.ndarray:
    z, y, x = np.ogrid[:size, :size, :size]
    return ((z - centre) ** 2 + (y - centre) ** 2 + (x - centre) ** 2 <= radius**2).astype(np.uint8)


def _signed_volume(xyz: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (xyz[faces[:, i]].astype(np.float64) for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def test_sphere_mesh_is_in_physical_units():
    spacing = np.array([50.0, 8.0, 8.0])
    verts, faces = mesh_from_mask(_sphere(), spacing)
    assert verts.shape[1] == 3 and faces.shape[1] == 3 and len(faces)
    assert faces.min() >= 0 and faces.max() < len(verts)
    centre, radius = 12 * spacing, 8 * spacing
    np.testing.assert_array_less(np.abs(verts.min(0) - (centre - radius)), spacing)
    np.testing.assert_array_less(np.abs(verts.max(0) - (centre + radius)), spacing)
    assert _signed_volume(verts, faces) > 0  # right-hand normals point out in (z, y, x) too


def test_mask_touching_the_border_gives_a_closed_mesh():
    mask = np.zeros((6, 10, 10), np.uint8)
    mask[:3, :5, :5] = 1
    verts, faces = mesh_from_mask(mask, (1, 1, 1))
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge shared by two triangles: watertight
    assert verts.min() == pytest.approx(-0.5) and mesh_from_mask(np.zeros((4, 4, 4)), (1, 1, 1))[0].shape == (0, 3)


def _read_ply(path):
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii")
    n_v = int(re.search(r"element vertex (\d+)", header)[1])
    n_f = int(re.search(r"element face (\d+)", header)[1])
    assert "binary_little_endian" in header and len(data) == end + 12 * n_v + 13 * n_f
    xyz = np.frombuffer(data, "<f4", 3 * n_v, end).reshape(n_v, 3)
    rec = np.frombuffer(data, [("n", "u1"), ("v", "<i4", (3,))], n_f, end + 12 * n_v)
    assert (rec["n"] == 3).all()
    return xyz, rec["v"]


def test_ply_and_obj_round_trip_with_outward_normals(tmp_path):
    spacing = (50.0, 8.0, 8.0)
    verts, faces = mesh_from_mask(_sphere(), spacing)
    write_ply(tmp_path / "m.ply", verts, faces)
    write_obj(tmp_path / "m.obj", verts, faces)
    xyz, tri = _read_ply(tmp_path / "m.ply")
    np.testing.assert_allclose(xyz, verts[:, ::-1])
    lines = (tmp_path / "m.obj").read_text().splitlines()
    obj_v = np.array([line.split()[1:] for line in lines if line.startswith("v ")], float)
    obj_f = np.array([line.split()[1:] for line in lines if line.startswith("f ")], int) - 1
    assert len(obj_v) == len(verts) and len(obj_f) == len(faces)
    np.testing.assert_allclose(obj_v, xyz, rtol=1e-6)
    assert np.array_equal(obj_f, tri)
    ideal = 4 / 3 * np.pi * 8**3 * np.prod(spacing)
    assert _signed_volume(xyz, tri) == pytest.approx(ideal, rel=0.1)  # positive: normals point out
