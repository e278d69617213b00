"""The CPU recipe's training pieces: random windows over a label budget, validation crops, schedules, recipes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from vemtransfer.config import ConfigError, TrainConfig, apply_recipe, recipe_defaults, validate_config
from vemtransfer.data.patches import RandomPatches, planned_steps, tile_origins, validation_crops
from vemtransfer.data.splits import IGNORE, Volume
from vemtransfer.model.network import RSUNet, count_parameters
from vemtransfer.training.train import lr_at


def _cfg(**kw) -> TrainConfig:
    base = TrainConfig(lr=0.01, batch_size=3, pos_weight=1.0, dice_smooth=1.0, epochs=2, max_steps=None, val_every=5,
                       checkpoint_every=5, patience=None, amp=False, num_workers=0, log_every=1, p_intensity=0.0,
                       contrast=(1.0, 1.0), brightness=(0.0, 0.0), sampling="random")
    return dataclasses.replace(base, **kw)


def _volume() -> Volume:
    """Two stacked volumes (blocks of 6 and 4 sections); foreground a bar in every section."""
    label = np.zeros((10, 32, 32), np.uint8)
    label[:, 20:24, 4:12] = 1
    image = np.random.default_rng(0).integers(0, 256, (10, 32, 32), dtype=np.uint8)
    return Volume(image, label)


def test_random_windows_are_seeded_inside_their_block_and_hide_labels_outside_the_budget():
    vol, size, blocks = _volume(), (3, 16, 16), [6, 4]
    budget = [(0, 0, 0)]  # one tile: the labelled voxels are [0:3, 0:16, 0:16] only
    sampler = RandomPatches(vol, budget, size, _cfg(steps=4), seed=5, blocks=blocks)
    assert len(sampler) == 4
    x1, y1 = sampler[2]
    x2, y2 = sampler[2]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)  # a pure function of (seed, step)
    assert not torch.equal(sampler[3][0], x1)
    for step in range(4):
        for _ in range(5):
            origin = sampler.window(sampler.centre(np.random.default_rng(step)))
            z0 = origin[0]
            assert (z0 + 3 <= 6) or z0 >= 6  # never straddles the two volumes
            mask = sampler.budget_mask(origin)
            inside = np.zeros((10, 32, 32), bool)
            inside[0:3, 0:16, 0:16] = True
            assert np.array_equal(mask, inside[tuple(slice(o, o + p) for o, p in zip(origin, size))])
    _, y = sampler[0]
    labels = set(np.unique(y.numpy()).tolist())
    assert IGNORE in labels and labels <= {0.0, 1.0, float(IGNORE)}


def test_foreground_fraction_one_centres_every_window_on_foreground():
    vol = _volume()
    origins = tile_origins((6, 32, 32), (3, 16, 16), (3, 16, 16))
    sampler = RandomPatches(vol, origins, (3, 16, 16), _cfg(steps=1, foreground_fraction=1.0), seed=1, blocks=[6, 4])
    rng = np.random.default_rng(0)
    centres = [sampler.centre(rng) for _ in range(50)]
    assert all(vol.label[tuple(c)] == 1 for c in centres)
    assert all(c[0] < 6 for c in centres)  # budget tiles are in the first volume only
    uniform = RandomPatches(vol, origins, (3, 16, 16), _cfg(steps=1, foreground_fraction=0.0), seed=1, blocks=[6, 4])
    hits = np.mean([vol.label[tuple(uniform.centre(rng))] == 1 for _ in range(400)])
    assert hits < 0.3  # the bar is 32 / 1024 of a section


def test_a_step_budget_is_the_same_at_every_label_fraction():
    steps = _cfg(steps=50)
    assert planned_steps(10, steps) == planned_steps(1000, steps) == 50
    epochs = _cfg(sampling="tiles", epochs=3)
    assert planned_steps(10, epochs) == 3 * math.ceil(10 / 3) and planned_steps(100, epochs) == 3 * math.ceil(100 / 3)
    assert planned_steps(100, dataclasses.replace(epochs, max_steps=7)) == 7


def test_validation_crops_are_seeded_and_stay_in_one_volume():
    a = validation_crops([5, 8], (40, 30), (3, 16, 16), 20, seed=9)
    assert a == validation_crops([5, 8], (40, 30), (3, 16, 16), 20, seed=9)
    assert a != validation_crops([5, 8], (40, 30), (3, 16, 16), 20, seed=10)
    for z, y, x in a:
        assert (z + 3 <= 5) or (5 <= z and z + 3 <= 13)
        assert 0 <= y <= 40 - 16 and 0 <= x <= 30 - 16
    with pytest.raises(ValueError, match="holds no"):
        validation_crops([2, 2], (40, 30), (3, 16, 16), 4, seed=0)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    cfg = _cfg(lr=1.0, lr_schedule="cosine", warmup=0.1)
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.5, abs=0.02) and 0 < lrs[-1] < 0.01
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lr_at(37, 100, _cfg(lr=0.3)) == 0.3  # constant: the paper's


def test_planar_levels_keep_the_network_family_and_cut_z_kernels():
    paper = RSUNet()
    assert paper.planar_levels == 0 and count_parameters(paper) == 1_439_705
    flat = RSUNet((4, 8, 8, 16), planar_levels=2)
    kernels = [m.kernel_size for m in flat.modules() if isinstance(m, torch.nn.Conv3d)]
    assert (3, 3, 3) in kernels and (1, 3, 3) in kernels
    assert flat.down[0].body[0].kernel_size == (1, 3, 3) and flat.down[2].body[0].kernel_size == (3, 3, 3)
    assert flat.up[-1].body[0].kernel_size == (1, 3, 3) and flat.out_block.body[0].kernel_size == (1, 3, 3)
    x = torch.zeros(1, 1, 3, 16, 16)
    assert flat(x).shape == x.shape
    with pytest.raises(ValueError, match="planar_levels"):
        RSUNet((4, 8, 8), planar_levels=3)


def test_recipe_is_a_defaults_layer_under_the_config(tiny_raw):
    cpu = recipe_defaults("cpu")
    assert set(cpu) <= {"patches", "model", "train", "evaluation"}
    tiny_raw["recipe"] = "cpu"
    merged = apply_recipe(tiny_raw)
    assert merged["model"] == tiny_raw["model"] | {"planar_levels": cpu["model"]["planar_levels"]}  # key by key: the config wins
    assert merged["train"]["batch_size"] == tiny_raw["train"]["batch_size"]
    assert merged["train"]["sampling"] == cpu["train"]["sampling"]  # the recipe fills what the config leaves out
    assert validate_config(tiny_raw).raw["train"]["sampling"] == "random"
    assert validate_config({**tiny_raw, "recipe": "paper"}).raw["train"]["sampling"] == "tiles"  # the schema's defaults are the paper's
    with pytest.raises(ConfigError, match="unknown recipe 'gpu'"):
        validate_config({**tiny_raw, "recipe": "gpu"})


def test_training_settings_that_do_not_fit_together_are_config_errors(tiny_raw):
    tiny_raw["train"]["finetune"] = {"steps": 10, "max_steps": 5}
    tiny_raw["train"]["foreground_fraction"] = 0.5
    tiny_raw["train"]["validation"] = {"size": [2, 30, 30]}
    tiny_raw["model"]["planar_levels"] = 4
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_raw)
    text = str(err.value)
    assert "train.finetune: give steps" in text and "train.foreground_fraction: needs sampling: random" in text
    assert "train.validation.size: y and x (30, 30) must be multiples of 4" in text and "model.planar_levels" in text


def test_budget_cells_partition_the_region_so_a_fraction_of_cells_is_that_fraction_of_voxels(tiny_raw, tmp_path):
    from vemtransfer.data.patches import cell_origins

    cells = cell_origins((7, 50, 40), (3, 16, 16))
    covered = np.zeros((7, 50, 40), np.int32)
    for z, y, x in cells:
        covered[z:z + 3, y:y + 16, x:x + 16] += 1
    assert (covered == 1).all() and len(cells) == 3 * 4 * 3  # every voxel in exactly one cell, edges clipped
    import job_helpers as jobs

    tiny_raw["train"] |= {"sampling": "random", "foreground_fraction": 0.5}
    tiny_raw["patches"] = {"size": [4, 32, 32], "stride": [2, 16, 16]}
    index = jobs.prepare(tiny_raw, "SynthLiver-M")
    assert index["budget_unit"] == "cell"
    shape = index["splits"]["train"]["shape"]
    assert len(index["origins"]) == math.ceil(shape[0] / 2) * math.ceil(shape[1] / 16) * math.ceil(shape[2] / 16)
    history = jobs.train(tiny_raw, "NoPretrain", "SynthLiver-M", "f0.5", 1, tmp_path / "m" / "model.pt", init=None)
    assert history["steps_done"] == 2 and history["n_patches"] == round(0.5 * len(index["origins"]))
    tiny_raw["train"]["sampling"] = "tiles"
    tiny_raw["train"]["foreground_fraction"] = 0.0
    with pytest.raises(ValueError, match="prepare the task again"):
        jobs.train(tiny_raw, "NoPretrain", "SynthLiver-M", "f0.5", 1, tmp_path / "n" / "model.pt", init=None)
