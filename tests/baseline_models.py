"""Random-weight stand-ins for the released baseline weights, in the released formats (no hub, no network).

MitoNet_v1.pth is a TorchScript-scripted empanada PanopticDeepLab model (the quantizable
PointRend variant); sam2.1_hiera_small.pt is ``{"model": state_dict}``. Both are built here
with random weights, so tests run the real loading and inference code paths offline.
"""

from __future__ import annotations

import warnings
from pathlib import Path


def random_mitonet(path: Path, seed: int = 0) -> Path:
    """A scripted, randomly initialised MitoNet architecture saved like the released checkpoint."""
    import torch
    from empanada.models.quantization import QuantizablePanopticDeepLabPR

    torch.manual_seed(seed)
    model = QuantizablePanopticDeepLabPR(encoder="resnet50", num_classes=1, quantize=False).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; empanada ships TorchScript
        torch.jit.save(torch.jit.script(model), str(path))
    return path


def random_sam2(path: Path, model_cfg: str = "configs/sam2.1/sam2.1_hiera_s.yaml", seed: int = 0) -> Path:
    """A randomly initialised SAM2.1 checkpoint (``{"model": state_dict}``, as Meta publishes them)."""
    import torch
    from sam2.build_sam import build_sam2

    torch.manual_seed(seed)
    model = build_sam2(model_cfg, ckpt_path=None, device="cpu")
    torch.save({"model": model.state_dict()}, path)
    return path
