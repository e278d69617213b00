"""Does the recommended network beat what a lab would try first? A sentence for the recommendation.

The pixel classifier's metrics JSON (``results/baselines/<task>/pixel_classifier.json``, rule
``segment_pixel_classifier``) holds its foreground IoU on the same validation crops the networks
are selected on (``val_iou_fg``) and on the whole test split (``iou_fg``). The recommendation
ranks models on validation, so validation is the comparison it may make without touching the
test; the test figures are added when the caller has the chosen model's test score. When the
network does not beat the baseline, the text says so plainly, with the margin, instead of
leaving a reader to assume that a trained network is the better tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def load_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline's metrics JSON (as :func:`vemtransfer.baselines.scoring.write_scores` writes it)."""
    return json.loads(Path(path).read_text())


def _verdict(network: float, baseline: float, where: str, name: str) -> str:
    gap = 100 * (network - baseline)
    if gap > 0:
        return f"on the {where} the network beats the {name} by {gap:.1f} points ({100 * network:.1f} % vs {100 * baseline:.1f} %)"
    return (f"on the {where} the network does **not** beat the {name}: {100 * network:.1f} % vs {100 * baseline:.1f} % "
            f"({gap:+.1f} points)")


def baseline_comparison(baseline: Mapping[str, Any], network_val_iou: float, network_test_iou: float | None = None,
                        name: str = "pixel classifier (random forest, ilastik's default kind)") -> str:
    """One Markdown paragraph comparing the recommended model with a baseline; IoUs as fractions (0-1).

    Validation is compared when the baseline has a validation score (it is scored on the
    networks' validation crops); test when both test scores are given. The last sentence says
    what to do when the network does not beat the baseline on validation.
    """
    parts = []
    if baseline.get("val_iou_fg") is not None:
        parts.append(_verdict(network_val_iou, baseline["val_iou_fg"], "validation crops", name))
    if network_test_iou is not None and baseline.get("iou_fg") is not None:
        parts.append(_verdict(network_test_iou, baseline["iou_fg"], "test sections", name))
    if not parts:
        return f"The {name} has no validation or test score to compare with.\n"
    text = "Against a baseline a lab would try first: " + "; ".join(parts) + "."
    val = baseline.get("val_iou_fg")
    if val is not None and network_val_iou <= val:
        text += (f" The {name} is cheaper (no GPU, {baseline.get('seconds', '?')} s here) and as good on this volume: "
                 "prefer it, or give the network more labels, steps or a better-suited window before trusting it.")
    return text + "\n"
