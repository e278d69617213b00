"""Whole-volume prediction: one global window grid, each window once, blockwise = single job,
OME-Zarr out (read back with the ome-zarr library), bounded reads, atomic output."""

import json
import re

import numpy as np
import pytest
import torch
import zarr

from vemtransfer.core.boxes import chunk_boxes
from vemtransfer.inference.ome import open_prediction, prediction_info
from vemtransfer.inference.predict import predict_volume
from vemtransfer.inference.runners import TorchRunner
from vemtransfer.inference.tiling import BlockPlan, WindowGrid
from vemtransfer.inference.volume import assemble_prediction, plan_for, predict_blocks, predict_to_zarr
from vemtransfer.model.network import RSUNet

PATCH = (4, 32, 32)


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return RSUNet((2, 4, 4, 8)).eval()


def _volume(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


class WindowContext(torch.nn.Module):
    """Logits that depend on the whole window (its mean) and on the position inside it, so
    each window predicts differently for the same voxel: a wrong window set, offset or blend
    weight changes the result by far more than float rounding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-2, 2, x.shape[-1]).expand_as(x)
        return 4 * x.mean(dim=(2, 3, 4), keepdim=True) + ramp + x


class Counting(TorchRunner):
    """Records the windows it is given (as bytes of their content)."""

    def __init__(self, model):
        super().__init__(model)
        self.windows = 0

    def __call__(self, batch):
        self.windows += len(batch)
        return super().__call__(batch)


@pytest.mark.parametrize(
    ("shape", "chunk", "block", "overlap"),
    [((10, 70, 90), (4, 32, 40), (8, 48, 48), 0.5),      # blocks and chunks unaligned with each other
     ((9, 50, 66), (5, 17, 64), (100, 100, 100), 0.25),  # one block; sizes that are multiples of nothing
     ((3, 20, 50), (2, 24, 32), (4, 32, 40), 0.5),       # thinner and narrower than one patch: mirror-padded
     ((2, 10, 12), (1, 5, 5), (1, 1, 1), 0.5)],          # smaller than one patch along every axis
)
def test_equals_the_in_memory_prediction_and_runs_each_window_once(tmp_path, shape, chunk, block, overlap):
    image = _volume(shape, seed=4)
    for model in (WindowContext(), _net()):
        expected = predict_volume(model, image, PATCH, overlap=overlap, amp=False)
        runner = Counting(model)
        summary = predict_to_zarr(runner, image, tmp_path / "p.zarr", PATCH, chunk, overlap=overlap, batch_size=3,
                                  block_zyx=block, progress=False)
        prob, mask = open_prediction(tmp_path / "p.zarr")
        assert prob.dtype == np.float32 and mask.dtype == np.uint8 and prob.shape == mask.shape == shape
        np.testing.assert_allclose(prob[...], expected, atol=1e-5, rtol=0)
        assert np.array_equal(mask[...], (prob[...] > 0.5).astype(np.uint8))
        grid = WindowGrid.of(shape, PATCH, overlap)
        assert runner.windows == grid.count == summary["windows"] == summary["windows_run"]
        assert prob.chunks == tuple(min(c, n) for c, n in zip(chunk, shape))


def test_blockwise_jobs_equal_the_single_job_bit_for_bit(tmp_path):
    image, model = _volume((10, 70, 90), seed=5), _net()
    single = tmp_path / "single.zarr"
    predict_to_zarr(TorchRunner(model), image, single, PATCH, (4, 32, 32), block_zyx=(8, 48, 64), progress=False)
    plan = plan_for(image.shape, PATCH, 0.5, (8, 48, 64))
    for jobs in (1, 2, 5):
        parts = [tmp_path / f"j{jobs}" / f"job{j}" for j in range(jobs)]
        for j in reversed(range(jobs)):  # order of the jobs does not matter
            predict_blocks(TorchRunner(model), image, plan, plan.job_blocks(j, jobs), parts[j], batch_size=4, progress=False)
        out = tmp_path / f"blockwise{jobs}.zarr"
        assemble_prediction(plan, parts, out, (5, 40, 30), (1, 1, 1), progress=False)  # another chunking too
        for a, b in zip(open_prediction(single), open_prediction(out)):
            assert np.array_equal(a[...], b[...])


def test_assemble_refuses_missing_duplicated_foreign_or_truncated_partials(tmp_path):
    image, runner = _volume((8, 64, 64)), TorchRunner(torch.nn.Conv3d(1, 1, 1))
    plan = plan_for(image.shape, PATCH, 0.5, (4, 32, 32))
    parts = [tmp_path / f"job{j}" for j in range(2)]
    for j in range(2):
        predict_blocks(runner, image, plan, plan.job_blocks(j, 2), parts[j], progress=False)
    out = tmp_path / "out.zarr"
    with pytest.raises(ValueError, match=r"blocks \[13, .*\] ... of 27 have no partial"):
        assemble_prediction(plan, parts[:1], out, (4, 32, 32), (1, 1, 1), progress=False)
    with pytest.raises(ValueError, match="block 0 is in both"):
        assemble_prediction(plan, [parts[0], parts[0], parts[1]], out, (4, 32, 32), (1, 1, 1), progress=False)
    other = plan_for(image.shape, PATCH, 0.25, (4, 32, 32))
    with pytest.raises(ValueError, match="predicted with another plan"):
        assemble_prediction(other, parts, out, (4, 32, 32), (1, 1, 1), progress=False)
    np.save(parts[1] / f"block{plan.count - 1}.npy", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="truncated or foreign partial"):
        assemble_prediction(plan, parts, out, (4, 32, 32), (1, 1, 1), progress=False)
    assert not out.exists()


def test_block_plan_partitions_the_windows_and_bounds_the_footprint():
    grid = WindowGrid.of((37, 300, 251), (8, 64, 64), 0.5)
    plan = BlockPlan.of(grid, (20, 130, 100))
    seen = []
    for b in plan.blocks():
        foot = plan.footprint(b)
        assert all(hi - lo <= lim for (lo, hi), lim in zip(foot, (20, 130, 100)))
        seen += grid.windows(plan.window_indices(b))
    assert sorted(seen) == sorted(grid.windows()) and len(seen) == len(set(seen))
    jobs = [list(plan.job_blocks(j, 4)) for j in range(4)]
    assert sum(jobs, []) == list(range(plan.count)) and max(map(len, jobs)) - min(map(len, jobs)) <= 1
    box = ((10, 30), (100, 200), (0, 251))
    touching = {b for b in plan.blocks() if all(lo < h and hi > l for (lo, hi), (l, h) in zip(plan.footprint(b), box))}
    assert plan.blocks_touching(box) == sorted(touching)
    with pytest.raises(ValueError, match="job 4 is not in 0..3"):
        plan.job_blocks(4, 4)


class RecordingArray:
    """A numpy volume that records every region read from it."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.dtype, self.reads = array, array.shape, array.dtype, []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.array[key]


def test_reads_are_bounded_by_one_block_and_cover_the_volume(tmp_path):
    image = RecordingArray(_volume((12, 192, 192), seed=2))
    block = (8, 64, 64)
    predict_to_zarr(TorchRunner(torch.nn.Conv3d(1, 1, 1)), image, tmp_path / "big.zarr", PATCH, (4, 64, 64),
                    batch_size=16, block_zyx=block, progress=False)
    assert max(image.array[key].size for key in image.reads) <= np.prod(block)
    seen = np.zeros(image.shape, bool)
    for key in image.reads:
        seen[key] = True
    assert seen.all()


def test_ome_zarr_reads_back_with_scale_axes_pyramid_and_label(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Multiscales, Reader

    image, out = _volume((6, 1100, 300), seed=6), tmp_path / "pred.zarr"
    predict_to_zarr(TorchRunner(torch.nn.Conv3d(1, 1, 1)), image, out, PATCH, (4, 256, 256), batch_size=16,
                    block_zyx=(8, 512, 512), voxel_nm=(30.0, 8.0, 8.0), attrs={"model": "m.pt"}, progress=False)
    nodes = list(Reader(parse_url(str(out)))())
    image_node = next(n for n in nodes if n.load(Multiscales) and not n.load(Label))
    label_node = next(n for n in nodes if n.load(Label))
    for node, dtype in ((image_node, np.float32), (label_node, np.uint8)):
        assert [tuple(d.shape) for d in node.data] == [(6, 1100, 300), (6, 550, 150), (3, 275, 75)]
        assert node.data[0].dtype == dtype
        scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
        assert scales == [[30.0, 8.0, 8.0], [30.0, 16.0, 16.0], [60.0, 32.0, 32.0]]
        assert [(a["name"], a["unit"]) for a in node.metadata["axes"]] == [("z", "nanometer"), ("y", "nanometer"), ("x", "nanometer")]
    level0, level1 = (np.asarray(image_node.data[i]) for i in (0, 1))
    np.testing.assert_allclose(level1, level0.reshape(6, 550, 2, 150, 2).mean(axis=(2, 4)), atol=1e-6)
    labels = [np.asarray(d) for d in label_node.data]
    assert np.array_equal(labels[1], labels[0][:, ::2, ::2]) and np.array_equal(labels[2], labels[1][::2, ::2, ::2])
    root = json.loads((out / "zarr.json").read_text())
    assert root["attributes"]["ome"]["version"] == "0.5" and prediction_info(out)["model"] == "m.pt"
    assert not any(p.name.startswith(".snakemake") for p in out.rglob("*"))


class FailsOnCall(torch.nn.Module):
    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.conv, self.calls, self.fail_at = torch.nn.Conv3d(1, 1, 1), 0, fail_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulated crash")
        return self.conv(x)


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if re.search(r"\.(tmp|old)-|\.parts$", p.name))


def test_interrupted_run_leaves_nothing_and_rerun_succeeds(tmp_path):
    image, out = _volume((8, 64, 64), seed=3), tmp_path / "pred.zarr"
    with pytest.raises(RuntimeError, match="simulated crash"):
        predict_to_zarr(TorchRunner(FailsOnCall(3)), image, out, PATCH, (4, 32, 32), batch_size=1, progress=False)
    assert not out.exists() and _leftovers(tmp_path) == []

    (tmp_path / f"{out.name}.tmp-deadbeef" / "0").mkdir(parents=True)  # as a killed process would leave
    runner = TorchRunner(FailsOnCall(0))
    predict_to_zarr(runner, image, out, PATCH, (4, 32, 32), progress=False)
    assert _leftovers(tmp_path) == []
    first = open_prediction(out)[0][...]
    predict_to_zarr(runner, image, out, PATCH, (8, 64, 64), threshold=0.3, block_zyx=(4, 32, 32), progress=False)  # overwrite
    assert prediction_info(out)["threshold"] == 0.3 and np.array_equal(open_prediction(out)[0][...], first)
    assert _leftovers(tmp_path) == [] and zarr.open_group(out, mode="r")["0"].chunks == (8, 64, 64)


def test_chunk_boxes_tile_the_volume():
    boxes = chunk_boxes((5, 7, 3), (2, 3, 3))
    covered = np.zeros((5, 7, 3), int)
    for box in boxes:
        covered[tuple(slice(a, b) for a, b in box)] += 1
    assert (covered == 1).all() and len(boxes) == 3 * 3 * 1
