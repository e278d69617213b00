"""Surface meshes of binary segmentations (marching cubes), as PLY or OBJ in physical units.

Fig. 5 and the lab's ``prediction.ply`` mesh a whole-volume mask; the figures' renders mesh
small max-pooled masks. ``skimage`` is imported inside the function that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.core.storage import atomic_path


def mesh_from_mask(
    mask: Any, spacing_zyx: Sequence[float], level: float = 0.5, step_size: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of a binary (z, y, x) mask: float32 vertices (z, y, x) in physical units
    (nm when ``spacing_zyx`` is in nm) and int32 faces wound counter-clockwise seen from
    outside (right-hand normals point out; skimage's own winding is the reverse).

    The mask (numpy or zarr) is loaded whole: marching cubes needs the full grid, and a
    uint8 mask is a quarter the size of the probabilities that ``predict_to_zarr`` avoids
    holding. It is padded with one voxel of background so objects touching the volume
    border still get closed surfaces. An empty mask gives an empty mesh.
    """
    from skimage.measure import marching_cubes

    volume = np.pad(np.asarray(mask[...], dtype=np.float32), 1)
    if not volume.max() > level > volume.min():
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    spacing = tuple(float(s) for s in spacing_zyx)
    verts, faces, _, _ = marching_cubes(volume, level=level, spacing=spacing, step_size=step_size)
    return (verts - np.asarray(spacing)).astype(np.float32), faces[:, ::-1].astype(np.int32)


def _xyz(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, y, x) vertices as (x, y, z) for viewers; swapping axes mirrors the mesh, so the
    winding is reversed too to keep normals pointing outwards."""
    return np.asarray(verts, np.float32)[:, ::-1], np.asarray(faces, np.int32)[:, ::-1]


def write_ply(path: str | Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """Binary little-endian PLY (compact; read by MeshLab, Blender, Neuroglancer), atomically.

    ``verts`` are (z, y, x) as ``mesh_from_mask`` returns them; the file stores x, y, z."""
    xyz, tri = _xyz(verts, faces)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(xyz)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(tri)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    face_rec = np.empty(len(tri), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    face_rec["n"], face_rec["v"] = 3, tri
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(np.ascontiguousarray(xyz, dtype="<f4").tobytes())
        fh.write(face_rec.tobytes())


def write_obj(path: str | Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """Wavefront OBJ (text, 1-based indices, x y z), atomically; for tools without PLY."""
    xyz, tri = _xyz(verts, faces)
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        np.savetxt(fh, xyz, fmt="v %.9g %.9g %.9g")
        np.savetxt(fh, tri + 1, fmt="f %d %d %d")

