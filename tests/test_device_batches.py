"""Batches cut and augmented on the device (the CUDA data path, run here on the CPU) equal the host sampler's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vemtransfer.config import TrainConfig
from vemtransfer.data.patches import PatchBatches, RandomPatches, tile_origins
from vemtransfer.data.splits import Volume
from vemtransfer.training.device_batches import _iterate, device_batches, make_batch

CFG = TrainConfig(lr=0.002, batch_size=4, pos_weight=5.0, dice_smooth=1.0, epochs=5, max_steps=None, val_every=10,
                  checkpoint_every=10, patience=None, amp=True, num_workers=0, log_every=1, p_intensity=0.75,
                  contrast=(0.5, 1.5), brightness=(-0.5, 0.5), foreground_fraction=0.5)


def _volume() -> Volume:
    rng = np.random.default_rng(0)
    return Volume(rng.integers(0, 256, (12, 64, 64), dtype=np.uint8), (rng.random((12, 64, 64)) < 0.2).astype(np.uint8))


@pytest.mark.parametrize("sampler", ["tiles", "random"])
def test_device_batches_equal_the_host_batches(sampler):
    vol, size = _volume(), (4, 32, 32)
    origins = tile_origins(vol.image.shape, size, (2, 16, 16))
    if sampler == "tiles":
        data = PatchBatches(vol, origins, size, CFG, 3)
    else:
        data = RandomPatches(vol, origins[:6], size, dataclasses.replace(CFG, sampling="random"), 3, [6, 6])
    image, label = torch.from_numpy(vol.image), torch.from_numpy(vol.label)
    steps = list(_iterate(data, 2, image, label))
    assert len(steps) == len(data) - 2
    for step, (x, y) in enumerate(steps, start=2):
        hx, hy = data[step]
        assert x.shape == hx.shape and x.dtype == hx.dtype == torch.float32 and y.dtype == hy.dtype
        assert torch.equal(y, hy)
        torch.testing.assert_close(x, hx, rtol=0, atol=1e-6)
    assert make_batch(data.plan(0), image, label, size)[0].shape == (4, 1, *size)


def test_the_host_path_is_kept_off_cuda():
    vol = _volume()
    data = PatchBatches(vol, tile_origins(vol.image.shape, (4, 32, 32), (2, 16, 16)), (4, 32, 32), CFG, 3)
    assert device_batches(data, 0, torch.device("cpu")) is None
