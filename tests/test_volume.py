import re

import numpy as np
import pytest
import torch
import zarr

from vemtransfer.infer import predict_volume
from vemtransfer.model import RSUNet
from vemtransfer.volume import mesh_from_mask, predict_to_zarr, write_obj, write_ply


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return RSUNet((2, 4, 4, 8)).eval()


def _volume(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _assert_matches_unchunked(group, expected: np.ndarray, threshold: float = 0.5) -> None:
    prob, mask = group["prob"][...], group["mask"][...]
    assert prob.dtype == np.float16 and mask.dtype == np.uint8 and prob.shape == expected.shape
    np.testing.assert_allclose(prob.astype(np.float32), expected, atol=1e-3)
    ambiguous = np.abs(expected - threshold) < 1e-3
    assert np.array_equal(mask[~ambiguous], (expected > threshold)[~ambiguous])


def test_chunked_prediction_equals_whole_volume_prediction(tmp_path):
    image, model = _volume((10, 70, 90)), _net()
    expected = predict_volume(model, image, (4, 32, 32), overlap=0.5, batch_size=4)
    out = tmp_path / "pred.zarr"
    summary = predict_to_zarr(model, image, out, (4, 32, 32), (4, 32, 40), overlap=0.5, batch_size=3, progress=False)
    group = zarr.open_group(out, mode="r")
    _assert_matches_unchunked(group, expected)
    assert group["prob"].chunks == (4, 32, 40) and group["mask"].chunks == (4, 32, 40)
    assert dict(group.attrs) == {"patch_size": [4, 32, 32], "overlap": 0.5, "threshold": 0.5, "chunk": [4, 32, 40]}
    assert summary["shape"] == [10, 70, 90] and summary["chunks"] == 3 * 3 * 3
    assert summary["windows"] == 4 * 4 * 5 and summary["windows_run"] >= summary["windows"]
    assert not model.training


def test_volume_thinner_than_a_patch_is_padded_like_predict_volume(tmp_path):
    image, model = _volume((3, 40, 50), seed=1), _net()
    source = zarr.create_array(tmp_path / "image.zarr", shape=image.shape, chunks=(1, 40, 50), dtype="uint8")
    source[...] = image  # read through zarr, as for a real converted volume
    expected = predict_volume(model, image, (4, 32, 32), overlap=0.5)
    out = tmp_path / "thin.zarr"
    predict_to_zarr(model, source, out, (4, 32, 32), (2, 24, 32), progress=False)
    _assert_matches_unchunked(zarr.open_group(out, mode="r"), expected)


class WindowContext(torch.nn.Module):
    """Logits that depend on the whole window (its mean) and on the position inside it, so
    each window predicts differently for the same voxel: a wrong window set, offset or blend
    weight in the chunked path changes the result by far more than float16 rounding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-2, 2, x.shape[-1]).expand_as(x)
        return 4 * x.mean(dim=(2, 3, 4), keepdim=True) + ramp + x


@pytest.mark.parametrize(
    ("shape", "chunk", "overlap"),
    [((10, 70, 90), (4, 32, 40), 0.5), ((9, 50, 66), (5, 17, 64), 0.25), ((3, 40, 50), (2, 24, 32), 0.5)],
)
def test_chunking_reproduces_window_dependent_blending(tmp_path, shape, chunk, overlap):
    image, model = _volume(shape, seed=4), WindowContext()
    expected = predict_volume(model, image, (4, 32, 32), overlap=overlap)
    predict_to_zarr(model, image, tmp_path / "p.zarr", (4, 32, 32), chunk, overlap=overlap, progress=False)
    _assert_matches_unchunked(zarr.open_group(tmp_path / "p.zarr", mode="r"), expected)


class RecordingArray:
    """A numpy volume that records every region read from it."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.dtype, self.reads = array, array.shape, array.dtype, []

    def __getitem__(self, key):
        block = self.array[key]
        self.reads.append(key)
        return block


def test_memory_is_bounded_by_the_chunk_and_every_voxel_is_read(tmp_path):
    image = RecordingArray(_volume((12, 192, 192), seed=2))
    model = torch.nn.Conv3d(1, 1, 1)  # cheap: this test is about access, not accuracy
    predict_to_zarr(model, image, tmp_path / "big.zarr", (4, 32, 32), (4, 64, 64), batch_size=16, progress=False)
    sizes = [image.array[key].size for key in image.reads]
    assert max(sizes) < image.array.size / 4
    seen = np.zeros(image.shape, bool)
    for key in image.reads:
        seen[key] = True
    assert seen.all()


class FailsOnCall(torch.nn.Module):
    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.conv, self.calls, self.fail_at = torch.nn.Conv3d(1, 1, 1), 0, fail_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulated crash")
        return self.conv(x)


def _leftovers(directory, name):
    return [p.name for p in directory.iterdir() if re.fullmatch(re.escape(name) + r"\.(tmp|old)-.*", p.name)]


def test_interrupted_run_leaves_nothing_and_rerun_succeeds(tmp_path):
    image, out = _volume((8, 64, 64), seed=3), tmp_path / "pred.zarr"
    with pytest.raises(RuntimeError, match="simulated crash"):
        predict_to_zarr(FailsOnCall(3), image, out, (4, 32, 32), (4, 32, 32), batch_size=1, progress=False)
    assert not out.exists() and _leftovers(tmp_path, out.name) == []

    (tmp_path / f"{out.name}.tmp-deadbeef" / "prob").mkdir(parents=True)  # as a killed process would leave
    model = FailsOnCall(0)
    predict_to_zarr(model, image, out, (4, 32, 32), (4, 32, 32), progress=False)
    assert _leftovers(tmp_path, out.name) == []
    first = zarr.open_group(out, mode="r")["prob"][...]
    predict_to_zarr(model, image, out, (4, 32, 32), (8, 64, 64), threshold=0.3, progress=False)  # overwrite
    group = zarr.open_group(out, mode="r")
    assert group.attrs["threshold"] == 0.3 and np.array_equal(group["prob"][...], first)
    assert _leftovers(tmp_path, out.name) == []


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
