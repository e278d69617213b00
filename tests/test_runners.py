"""Inference engines: the exported ones give PyTorch's probabilities, and ``auto`` picks as documented."""

import numpy as np
import pytest
import torch

from vemtransfer.inference import runners
from vemtransfer.inference.runners import OnnxRuntimeRunner, OpenVinoRunner, TorchRunner, make_runner
from vemtransfer.model.network import RSUNet

PATCH = (3, 32, 32)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = RSUNet((4, 4, 8), planar_levels=1).eval()
    for m in net.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (5, 1, *PATCH)).astype(np.float32)


@pytest.mark.parametrize("engine", [OnnxRuntimeRunner, OpenVinoRunner])
def test_exported_engines_equal_pytorch(model, batch, engine):
    expected = TorchRunner(model)(batch)
    runner = engine(model, PATCH, threads=1)
    got = runner(batch)
    assert got.shape == (5, *PATCH) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(runner(batch[:1]), expected[:1], atol=1e-5, rtol=0)  # any batch size
    assert not model.training


def test_channels_last_equals_contiguous(model, batch):
    np.testing.assert_allclose(TorchRunner(model, channels_last=True)(batch), TorchRunner(model)(batch), atol=1e-5, rtol=0)


def test_auto_picks_the_fastest_installed_engine_on_cpu(model, monkeypatch):
    assert isinstance(make_runner("auto", model, "cpu", PATCH), OpenVinoRunner)
    installed = {"onnxruntime"}
    monkeypatch.setattr(runners, "_installed", lambda e: e == "torch" or e in installed)
    assert isinstance(make_runner("auto", model, "cpu", PATCH), OnnxRuntimeRunner)
    installed.clear()
    assert isinstance(make_runner("auto", model, "cpu", PATCH), TorchRunner)
    with pytest.raises(ValueError, match="openvino is not installed"):
        make_runner("openvino", model, "cpu", PATCH)


def test_engine_errors_are_clear(model):
    with pytest.raises(ValueError, match="unknown inference engine 'tensorrt'"):
        make_runner("tensorrt", model, "cpu", PATCH)
    with pytest.raises(ValueError, match="runs on the CPU only"):
        make_runner("openvino", model, "cuda", PATCH)
