"""Windows blended on the device (the CUDA path, run here with device=cpu) give today's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from vemtransfer.inference.device_predict import DeviceRunner
from vemtransfer.inference.ome import open_prediction
from vemtransfer.inference.runners import TorchRunner
from vemtransfer.inference.volume import assemble_prediction, plan_for, predict_blocks, predict_to_zarr
from vemtransfer.model.network import RSUNet

PATCH = (4, 32, 32)


class WindowContext(torch.nn.Module):
    """Logits that depend on the whole window and the position in it (tests/test_volume.py says why)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-2, 2, x.shape[-1]).expand_as(x)
        return 4 * x.mean(dim=(2, 3, 4), keepdim=True) + ramp + x


def _volume(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.mark.parametrize(
    ("shape", "chunk", "block", "overlap"),
    [((10, 70, 90), (4, 32, 40), (8, 48, 48), 0.5),      # several columns (recomputed seams) and emitted chunk rows
     ((23, 64, 64), (3, 64, 64), (6, 64, 64), 0.5),      # one column, many rows, the accumulator shifted down z
     ((9, 50, 66), (5, 17, 64), (100, 100, 100), 0.25),  # one column over the plane
     ((3, 20, 50), (2, 24, 32), (4, 32, 40), 0.5),       # thinner and narrower than one patch: mirror-padded
     ((2, 10, 12), (1, 5, 5), (1, 1, 1), 0.5)],          # smaller than one patch along every axis
)
@pytest.mark.parametrize("out_dtype", ["float32", "float16"])
def test_streamed_prediction_equals_the_host_path(tmp_path, shape, chunk, block, overlap, out_dtype):
    image = _volume(shape)
    model = WindowContext()
    predict_to_zarr(TorchRunner(model), image, tmp_path / "host.zarr", PATCH, chunk, overlap, 3, block_zyx=block, progress=False)
    runner = DeviceRunner(model, "cpu", channels_last=False, out_dtype=out_dtype)
    summary = predict_to_zarr(runner, image, tmp_path / "dev.zarr", PATCH, chunk, overlap, 3, block_zyx=block, progress=False)
    (hp, hm), (dp, dm) = open_prediction(tmp_path / "host.zarr"), open_prediction(tmp_path / "dev.zarr")
    assert summary["windows_run"] >= summary["windows"] and summary["shape"] == list(shape)
    tol = 1e-5 if out_dtype == "float32" else 6e-4  # float16 rounding of a probability in [0, 1]
    np.testing.assert_allclose(dp[...], hp[...], atol=tol)
    assert _iou(dm[...] == 1, hm[...] == 1) >= 0.999
    assert dp.shape == hp.shape and dm.dtype == np.uint8
    host, dev = zarr.open_group(str(tmp_path / "host.zarr"), mode="r"), zarr.open_group(str(tmp_path / "dev.zarr"), mode="r")
    assert sorted(host.array_keys()) == sorted(dev.array_keys())
    for key in host.array_keys():  # the pyramid levels too
        np.testing.assert_allclose(dev[key][...], host[key][...], atol=tol)
    mask_host, mask_dev = host["labels/mask"], dev["labels/mask"]
    for key in mask_host.array_keys():
        assert _iou(mask_dev[key][...] == 1, mask_host[key][...] == 1) >= 0.999


def test_real_network_masks_match_and_each_window_runs_once_in_one_column(tmp_path):
    torch.manual_seed(0)
    model = RSUNet((2, 4, 4, 8)).eval()
    image = _volume((14, 64, 96), seed=3)
    predict_to_zarr(TorchRunner(model), image, tmp_path / "host.zarr", PATCH, (4, 64, 96), 0.5, 4, progress=False)
    summary = predict_to_zarr(DeviceRunner(model, "cpu", channels_last=False), image, tmp_path / "dev.zarr", PATCH, (4, 64, 96),
                              0.5, 4, block_zyx=(4, 64, 96), progress=False)
    assert summary["windows_run"] == summary["windows"]  # one column: nothing recomputed
    (hp, hm), (dp, dm) = open_prediction(tmp_path / "host.zarr"), open_prediction(tmp_path / "dev.zarr")
    assert _iou(dm[...] == 1, hm[...] == 1) >= 0.999
    assert np.abs(dp[...] - hp[...]).max() < 1e-3


def test_blockwise_jobs_blend_on_the_device_like_on_the_host(tmp_path):
    image, model = _volume((10, 70, 90)), WindowContext()
    plan = plan_for(image.shape, PATCH, 0.5, (8, 48, 48))
    host = [predict_blocks(TorchRunner(model), image, plan, plan.job_blocks(j, 2), tmp_path / f"h{j}", 3, False) for j in range(2)]
    dev = [predict_blocks(DeviceRunner(model, "cpu", channels_last=False), image, plan, plan.job_blocks(j, 2), tmp_path / f"d{j}", 3, False)
           for j in range(2)]
    assert [h["windows_run"] for h in host] == [d["windows_run"] for d in dev]
    for name, parts in (("host", ["h0", "h1"]), ("dev", ["d0", "d1"])):
        assemble_prediction(plan, [tmp_path / p for p in parts], tmp_path / f"{name}.zarr", (4, 32, 40), (1, 1, 1), progress=False)
    np.testing.assert_allclose(open_prediction(tmp_path / "dev.zarr")[0][...], open_prediction(tmp_path / "host.zarr")[0][...], atol=1e-5)


def test_device_runner_is_a_runner_too():
    model = WindowContext()
    batch = (np.random.default_rng(0).random((2, 1, *PATCH), dtype=np.float32) * 2 - 1)
    np.testing.assert_allclose(DeviceRunner(model, "cpu", channels_last=False)(batch), TorchRunner(model)(batch), atol=1e-6)
