import numpy as np
import pytest

from vemtransfer.config import TrainConfig
from vemtransfer.config.grid import budget_size
from vemtransfer.data.patches import PatchBatches, augment, subset_order, tile_origins
from vemtransfer.data.splits import Volume, normalise


def _cfg(**kw) -> TrainConfig:
    base = dict(lr=0.002, batch_size=3, pos_weight=5.0, dice_smooth=1.0, epochs=2, max_steps=None, val_every=10,
                checkpoint_every=10, patience=None, amp=False, num_workers=0, log_every=1, p_intensity=0.75,
                contrast=(0.5, 1.5), brightness=(-0.5, 0.5))
    return TrainConfig(**(base | kw))


def test_tiling_follows_the_authors_range_rule():
    origins = tile_origins((18, 400, 400), (18, 160, 160), (9, 80, 80))
    assert len(origins) == 1 * 4 * 4  # range(0, 241, 80) per yx axis
    assert origins[0] == (0, 0, 0) and origins[-1] == (0, 240, 240)
    assert len(tile_origins((100, 1024, 1024), (18, 160, 160), (9, 80, 80))) == 10 * 11 * 11
    with pytest.raises(ValueError, match="smaller than the patch"):
        tile_origins((10, 400, 400), (18, 160, 160), (9, 80, 80))


@pytest.mark.parametrize(("budget", "n", "want"), [("p100", 120, 100), ("f0.25", 1728, 432), ("f1", 7, 7), ("f0.1", 4, 1), ("full", 9, 9)])
def test_budget_sizes(budget, n, want):
    assert budget_size(budget, n) == want


@pytest.mark.parametrize("bad", ["p0", "f0", "f1.5", "x3", "p-1", ""])
def test_bad_budgets_are_errors(bad):
    with pytest.raises(ValueError):
        budget_size(bad, 10)


def test_budget_larger_than_the_data_is_an_error_not_a_silent_clip():
    with pytest.raises(ValueError, match="only 99"):
        budget_size("p100", 99)


def test_subsets_are_nested_and_fixed_by_seed():
    order = subset_order(200, seed=3)
    assert order == subset_order(200, seed=3) and order != subset_order(200, seed=4)
    sets = [set(order[: budget_size(f"f{f:g}", 200)]) for f in (0.1, 0.25, 0.5, 0.75, 1.0)]
    assert all(a < b for a, b in zip(sets, sets[1:]))


def test_normalise_maps_uint8_to_minus_one_one():
    assert normalise(np.array([0, 255], np.uint8)).tolist() == [-1.0, 1.0]


def test_augmentation_moves_labels_with_images():
    rng = np.random.default_rng(0)
    label = (rng.random((4, 16, 16)) > 0.7).astype(np.uint8)
    image = np.where(label, 0.8, -0.8).astype(np.float32)
    cfg = _cfg(p_intensity=0.0)
    seen = set()
    for seed in range(40):
        img, lab = augment(image, label, np.random.default_rng(seed), cfg)
        assert np.array_equal(img > 0, lab.astype(bool))
        seen.add(lab.tobytes())
    assert len(seen) == 8  # the 8 rotations/flips of the yx plane all occur


def test_intensity_augmentation_is_clamped():
    image = np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    outs = [augment(image, np.zeros((1, 8, 8), np.uint8), np.random.default_rng(s), _cfg(p_intensity=1.0))[0] for s in range(20)]
    assert all(o.min() >= -1 and o.max() <= 1 for o in outs)
    assert any(not np.allclose(np.sort(o.ravel()), np.sort(image.ravel())) for o in outs)


def test_batches_are_a_pure_function_of_seed_and_step():
    rng = np.random.default_rng(1)
    vol = Volume(rng.integers(0, 255, (6, 32, 32), dtype=np.uint8), (rng.random((6, 32, 32)) > 0.5).astype(np.uint8))
    origins = tile_origins(vol.image.shape, (4, 16, 16), (2, 8, 8))
    data = PatchBatches(vol, origins, (4, 16, 16), _cfg(), seed=5)
    assert data.steps_per_epoch == 6 and len(data) == 12  # 18 patches, batch 3, 2 epochs
    x, y = data[7]
    x2, y2 = PatchBatches(vol, origins, (4, 16, 16), _cfg(), seed=5)[7]
    assert x.shape == (3, 1, 4, 16, 16) and y.dtype.is_floating_point
    assert (x == x2).all() and (y == y2).all()
    epoch0 = np.concatenate([data.batch_indices(s) for s in range(6)])
    assert sorted(epoch0) == list(range(18))  # each epoch visits every patch once
    assert len(PatchBatches(vol, origins, (4, 16, 16), _cfg(max_steps=5), seed=5)) == 5


@pytest.mark.parametrize(("shape", "count"), [
    ((256, 400, 400), 432),  # one UroCell volume: the paper's 1728 / 432 are 4 and 1 volumes
    ((72, 1024, 1024), 847),  # SNEMI3D train: the paper's 3388 = 4 x 847 (four rotations)
    ((18, 1024, 1024), 121),  # SNEMI3D test: 484 = 4 x 121
    ((18, 1000, 1000), 121),  # rat liver: the paper says 120
    ((180, 2000, 3000), 16416),  # mouse liver: the paper's 2160 does not follow from this stride
])
def test_paper_tiling_counts_quoted_in_the_readme(shape, count):
    assert len(tile_origins(shape, (18, 160, 160), (9, 80, 80))) == count
