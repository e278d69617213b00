import numpy as np
import pytest
import torch

from vemtransfer.data.splits import normalise
from vemtransfer.inference.predict import blend_weight, predict_volume
from vemtransfer.inference.tiling import window_starts


class InputAsLogits(torch.nn.Module):
    """A 'network' whose logits are its input: every window predicts the same value for a
    voxel, so correct blending must return exactly sigmoid(normalised image)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 3.0


@pytest.mark.parametrize(("n", "p", "overlap"), [(100, 18, 0.5), (160, 160, 0.5), (161, 160, 0.25), (10, 4, 0.0), (7, 18, 0.5)])
def test_windows_cover_the_axis(n, p, overlap):
    starts = window_starts(n, p, overlap)
    covered = np.zeros(max(n, p), bool)
    for s in starts:
        covered[s : s + p] = True
    assert covered[:n].all() and starts[-1] + p >= n and starts == sorted(set(starts))


def test_blend_weight_peaks_in_the_centre_and_is_positive():
    w = blend_weight((6, 16, 16))
    assert w.min() > 0 and w.max() == pytest.approx(1.0)
    assert w[3, 8, 8] > w[0, 0, 0]


@pytest.mark.parametrize("shape", [(9, 70, 50), (3, 20, 40)])  # the second is smaller than a window
def test_blended_prediction_is_exact_for_a_translation_invariant_model(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    prob = predict_volume(InputAsLogits(), image, (4, 32, 32), overlap=0.5, batch_size=3)
    expected = 1 / (1 + np.exp(-3.0 * normalise(image)))
    assert prob.shape == shape and prob.dtype == np.float32
    np.testing.assert_allclose(prob, expected, rtol=1e-5, atol=1e-6)


def test_predict_restores_training_mode():
    model = torch.nn.Sequential(torch.nn.Conv3d(1, 1, 1))
    model.train()
    predict_volume(model, np.zeros((4, 16, 16), np.uint8), (4, 16, 16))
    assert model.training


def test_crops_are_predicted_one_window_each_and_channels_last_gives_the_same_answer():
    from vemtransfer.inference.predict import predict_crops
    from vemtransfer.model.network import RSUNet

    image = np.random.default_rng(0).integers(0, 256, (6, 40, 40), dtype=np.uint8)
    origins = [(0, 0, 0), (3, 8, 16), (2, 24, 8)]
    prob = predict_crops(InputAsLogits(), image, origins, (3, 16, 16), batch_size=2)
    for p, (z, y, x) in zip(prob, origins):
        expected = 1 / (1 + np.exp(-3.0 * normalise(image[z:z + 3, y:y + 16, x:x + 16])))
        assert np.allclose(p, expected, atol=1e-6)
    torch.manual_seed(0)
    net = RSUNet((2, 4, 4, 8), planar_levels=1).eval()
    plain = predict_crops(net, image, origins, (3, 16, 16))
    fast = predict_crops(net, image, origins, (3, 16, 16), channels_last=True)
    assert np.allclose(plain, fast, atol=1e-5)


def test_training_precision_follows_the_device_and_the_cpu():
    from vemtransfer.inference.predict import cpu_bf16_native, training_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert training_precision(cuda, True, "fp32") == "fp16" and training_precision(cuda, False, "bf16") == "fp32"
    assert training_precision(cpu, True, "fp32") == "fp32" and training_precision(cpu, True, "bf16") == "bf16"
    assert training_precision(cpu, True, "auto") == ("bf16" if cpu_bf16_native() else "fp32")


def test_cuda_precision_and_channels_last_are_chosen_per_device():
    from vemtransfer.inference.predict import channels_last_on, training_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert training_precision(cuda, True, "fp32", "bf16") == "bf16" and training_precision(cuda, False, "fp32", "bf16") == "fp32"
    assert training_precision(cpu, True, "fp32", "bf16") == "fp32"  # cuda_precision never applies on a CPU
    assert channels_last_on(cuda, False, True) and not channels_last_on(cpu, False, True) and channels_last_on(cpu, True, False)
