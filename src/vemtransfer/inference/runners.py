"""Inference engines: a batch of normalised windows in, foreground probabilities out.

Whole-volume prediction (``volume.py``) only needs ``runner(batch) -> prob``, so the same
tiling, blending and output code serves plain PyTorch (fp32 or autocast, optionally
channels_last_3d) and the model exported to ONNX and run by ONNX Runtime or OpenVINO, which
``benchmarks/inference_engines.py`` measured faster on CPUs with equal masks.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vemtransfer.config import ENGINES
from vemtransfer.inference.predict import autocast, memory_format


class Runner(Protocol):
    """float32 (n, 1, z, y, x) windows in [-1, 1] -> float32 (n, z, y, x) probabilities."""

    description: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class TorchRunner:
    """A PyTorch model in eval mode under ``torch.inference_mode``.

    On CUDA: fp16 autocast when ``amp``, cuDNN autotuning (fixed window shape), and batches
    copied from pinned host memory without blocking, so the copy overlaps queued kernels. ``channels_last`` converts
    the model (in place) and its inputs to channels_last_3d.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", amp: bool = True,
                 channels_last: bool = False) -> None:
        self.device = torch.device(device)
        self.format = memory_format(channels_last)
        self.model = model.to(self.device, memory_format=self.format).eval()
        self.amp = amp and self.device.type == "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # every window has the same shape: pick the fastest kernels once
        self.description = f"torch {self.device.type}{' fp16' if self.amp else ' fp32'}{' channels_last' if channels_last else ''}"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        cuda = self.device.type == "cuda"
        if cuda:
            x = x.pin_memory()
        x = x.to(self.device, non_blocking=cuda).contiguous(memory_format=self.format)
        with torch.inference_mode(), autocast(self.device, self.amp):
            prob = torch.sigmoid(self.model(x).float())[:, 0]
        return prob.cpu().numpy()


def export_onnx(model: torch.nn.Module, patch: Sequence[int], path: str | Path) -> Path:
    """The model as ONNX (opset 17, any batch size, windows of ``patch``), for the exported engines."""
    path = Path(path)
    model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros((1, 1, *patch)),), str(path), input_names=["x"], output_names=["logits"],
                          opset_version=17, dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
    return path


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float32)))).astype(np.float32)


class OnnxRuntimeRunner:
    """The model exported to ONNX and run by ONNX Runtime on the CPU (fp32)."""

    def __init__(self, model: torch.nn.Module, patch: Sequence[int], threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        with tempfile.TemporaryDirectory() as tmp:
            onnx_file = export_onnx(model, patch, Path(tmp) / "model.onnx")
            self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.description = f"onnxruntime {ort.__version__} cpu fp32"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return _sigmoid(self.session.run(None, {"x": np.ascontiguousarray(batch, dtype=np.float32)})[0])


class OpenVinoRunner:
    """The model converted by OpenVINO (from PyTorch directly: no ONNX needed) and compiled for the
    CPU in fp32 (``precision="bf16"`` only where the CPU computes bf16 natively)."""

    def __init__(self, model: torch.nn.Module, patch: Sequence[int], threads: int | None = None, precision: str = "f32") -> None:
        import openvino as ov

        config: dict[str, object] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        model = model.to("cpu", memory_format=torch.contiguous_format).eval()
        with torch.no_grad():
            converted = ov.convert_model(model, example_input=torch.zeros((1, 1, *patch)), input=[(-1, 1, *patch)])
        self.compiled = ov.Core().compile_model(converted, "CPU", config)
        self.description = f"openvino {ov.__version__.split('-')[0]} cpu {precision}"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return _sigmoid(np.asarray(self.compiled(np.ascontiguousarray(batch, dtype=np.float32))[0]))


CPU_FASTEST_FIRST = ("openvino", "onnxruntime", "torch")
"""What ``auto`` tries on a CPU, fastest first as measured with equal masks (benchmarks/README.md)."""


def _installed(engine: str) -> bool:
    return engine == "torch" or importlib.util.find_spec(engine) is not None


def make_runner(engine: str, model: torch.nn.Module, device: torch.device | str, patch: Sequence[int], amp: bool = True,
                threads: int | None = None) -> Runner:
    """The runner ``prediction.engine`` names. ``auto``: PyTorch on CUDA (fp16 autocast when
    ``amp``, channels_last_3d, windows blended on the GPU: ``device_predict``); on a CPU the
    first installed of :data:`CPU_FASTEST_FIRST`."""
    device = torch.device(device)
    if engine not in ENGINES:
        raise ValueError(f"unknown inference engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if device.type != "cpu" and engine not in ("auto", "torch"):
        raise ValueError(f"inference engine {engine} runs on the CPU only; use auto or torch on {device.type}")
    if engine == "auto":
        engine = "torch" if device.type != "cpu" else next(e for e in CPU_FASTEST_FIRST if _installed(e))
    if not _installed(engine):
        raise ValueError(f"inference engine {engine} is not installed (pip install {engine}), or choose prediction.engine: torch")
    if engine == "onnxruntime":
        return OnnxRuntimeRunner(model, patch, threads)
    if engine == "openvino":
        return OpenVinoRunner(model, patch, threads)
    if device.type == "cuda":
        from vemtransfer.inference.device_predict import DeviceRunner

        return DeviceRunner(model, device, "fp16" if amp else "fp32", channels_last=True)
    return TorchRunner(model, device, amp)
