"""MitoNet baseline through empanada's real code paths, with random weights on CPU."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("empanada", reason="the baselines extra is not installed: bash scripts/install.sh --baselines (README)")
from vemtransfer.baselines import mitonet  # noqa: E402

from baseline_models import random_mitonet  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return random_mitonet(tmp_path_factory.mktemp("mitonet") / "MitoNet_v1.pth")


def _stack(z: int = 2, h: int = 96, w: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (z, h, w), dtype=np.uint8)
    labels = np.zeros((z, h, w), np.uint8)
    labels[:, 10:30, 12:40] = 1
    labels[:, 50:70, 45:75] = 1
    return images, labels


def test_napari_is_never_imported(model_file, monkeypatch):
    """empanada-napari is installed without napari: MitoNet must run without importing it. Blocking the
    import (a None entry in sys.modules makes `import napari` raise) fails this test if any code path tries."""
    for name in [m for m in sys.modules if m == "napari" or m.startswith("napari.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "napari", None)
    mitonet.segment_stack(model_file, _stack(1)[0], 1, progress=False)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_segment_stack_returns_full_size_masks_at_every_downsampling(model_file, scale, monkeypatch):
    from empanada.inference.engines import PanopticDeepLabRenderEngine

    seen = []
    real = PanopticDeepLabRenderEngine.__call__

    def spy(self, image, size, upsampling=1):
        seen.append((tuple(image.shape), tuple(size), upsampling))
        return real(self, image, size, upsampling=upsampling)

    monkeypatch.setattr(PanopticDeepLabRenderEngine, "__call__", spy)
    images, _ = _stack(2, 96, 80)
    out = mitonet.segment_stack(model_file, images, scale, progress=False)
    assert out.shape == images.shape and out.dtype == bool
    # the model saw the image downsampled by `scale`, and the engine rendered it back at full size
    assert seen == [((1, 1, 96 // scale, 80 // scale), (96, 80), scale)] * 2


def test_segment_stack_rejects_bad_input(model_file):
    with pytest.raises(ValueError, match="uint8"):
        mitonet.segment_stack(model_file, np.zeros((1, 32, 32), np.float32), 1)
    with pytest.raises(ValueError, match="power of 2"):
        mitonet.segment_stack(model_file, np.zeros((1, 32, 32), np.uint8), 3)


def test_patch_origins_random_and_grid():
    shape = (3, 600, 520)
    rnd = mitonet.patch_origins(shape, 256, "random", count=32, seed=1)
    assert len(rnd) == 32 and rnd == mitonet.patch_origins(shape, 256, "random", count=32, seed=1)
    assert rnd != mitonet.patch_origins(shape, 256, "random", count=32, seed=2)
    assert all(0 <= z < 3 and 0 <= y <= 600 - 256 and 0 <= x <= 520 - 256 for z, y, x in rnd)
    grid = mitonet.patch_origins(shape, 256, "grid", spacing=256)
    assert grid == [(z, y, x) for z in range(3) for y in (0, 256) for x in (0, 256)]
    with pytest.raises(ValueError, match="smaller"):
        mitonet.patch_origins((1, 100, 100), 256, "grid")


def test_write_patches_uses_empanadas_layout_with_instance_ids(tmp_path):
    from empanada.data import SingleClassInstanceDataset

    images, labels = _stack(1, 96, 80)
    n = mitonet.write_patches(tmp_path, images, labels, [(0, 0, 0), (0, 16, 16)], 64)
    ds = SingleClassInstanceDataset(str(tmp_path), transforms=None, weight_gamma=0.7)
    assert n == len(ds) == 2
    import tifffile

    mask = tifffile.imread(sorted((tmp_path / "train" / "masks").iterdir())[0])
    assert mask.dtype == np.int32 and set(np.unique(mask)) == {0, 1, 2}  # two separate objects


def test_finetune_runs_empanadas_finetuning_and_writes_a_loadable_model(model_file, tmp_path):
    images, labels = _stack(2, 96, 96)
    out = tmp_path / "ft" / "model.pth"
    summary = mitonet.finetune(model_file, images, labels, out, mode="grid", patch=64, spacing=32, iterations=2, batch_size=2, workers=0, amp=False)
    assert out.is_file() and not list(out.parent.glob(".mitonet-*"))  # temp data and model dir cleaned up
    assert summary["patches"] == 2 * 2 * 2 and summary["epochs"] == 1 and summary["steps"] == 4
    pred = mitonet.segment_stack(out, images[:1], 2, progress=False)
    assert pred.shape == (1, 96, 96)
    import torch

    before = dict(torch.jit.load(str(model_file)).named_parameters())
    after = dict(torch.jit.load(str(out)).named_parameters())
    changed = [k for k in after if not torch.equal(after[k], before[k])]
    assert changed and all("encoder" not in k for k in changed)  # finetune_layer "none": decoder only


def test_finetune_needs_a_full_batch(model_file, tmp_path):
    images, labels = _stack(1, 64, 64)
    with pytest.raises(ValueError, match="batch_size"):
        mitonet.finetune(model_file, images, labels, tmp_path / "m.pth", mode="random", count=1, patch=64, batch_size=2, workers=0)
    assert not (tmp_path / "m.pth").exists()
