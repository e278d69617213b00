"""Which Table 3 rows the config asks for: one description drives the rules and the table.

A row is a baseline method on a task's test sections. Method ids are file-safe and used as
file names: ``mitonet_2x`` (zero-shot at downsampling 2), ``mitonet-random32_1x`` (MitoNet
fine-tuned on the patch set ``random32``, then inferred at 1), ``sam2_automatic``,
``sam2_boxes``, ``sam2_boxes_masks``, ``pixel_classifier`` (a random forest on the prepared splits). The paper's own model ("ours") is not a job: its row is
read from Table 2 (best source per target at the Table 2 budget).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OURS = "ours"
PIXEL_CLASSIFIER = "pixel_classifier"
SAM2_MODES = {"automatic": ("SAM2", "None"), "boxes": ("SAM2 + prompt", "All bounding boxes"),
              "boxes_masks": ("SAM2 + prompt", "All bounding boxes + masks")}
METHOD = re.compile(r"^(?:sam2_(?P<mode>automatic|boxes_masks|boxes)|mitonet(?:-(?P<set>[A-Za-z0-9]+))?_(?P<scale>[1-9][0-9]*)x)$")


@dataclass(frozen=True)
class Row:
    """One Table 3 row: ``method`` on ``task``, with the paper's wording."""

    method: str
    task: str
    name: str
    annotations: str

    @property
    def organelle(self) -> str:
        """The paper's organelle column: the task id's suffix (RatLiver-M -> M)."""
        return self.task.rsplit("-", 1)[-1]


def rows(raw: Mapping[str, Any]) -> list[Row]:
    """The baseline rows of ``raw['baselines']`` in the paper's order (MitoNet, then SAM2), without ours."""
    b = raw.get("baselines")
    if not b:
        return []
    out: list[Row] = []
    mn = b.get("mitonet")
    if mn:
        zs = mn["zero_shot"]
        out += [Row(f"mitonet_{s}x", t, f"MitoNet {s}×", "None") for s in zs["scales"] for t in zs["tasks"]]
        ft = mn["finetune"]
        out += [Row(f"mitonet-{name}_{s}x", t, f"MitoNet {s}× fine-tuned", spec["annotations"])
                for name, spec in ft["sets"].items() for s in ft["scales"] for t in ft["tasks"]]
    sam = b.get("sam2")
    if sam:
        out += [Row(f"sam2_{mode}", t, *SAM2_MODES[mode]) for mode in SAM2_MODES for t in sam[mode]["tasks"]]
    out += [Row(PIXEL_CLASSIFIER, t, "Pixel classifier (random forest, prepared sections)", "Training masks (sampled pixels)")
            for t in b.get(PIXEL_CLASSIFIER, {}).get("tasks", [])]
    return out


def ours_rows(raw: Mapping[str, Any]) -> list[Row]:
    """Our model's rows: every baseline task that is also a Table 2 target."""
    tasks = dict.fromkeys(r.task for r in rows(raw))
    n = raw["experiment"]["finetune_patches"]
    return [Row(OURS, t, "Ours (best transferred + fine-tuned model)", f"Training masks ({n or 'all'} patches)")
            for t in tasks if t in raw["experiment"]["targets"]]


def parse_method(method: str) -> dict[str, Any]:
    """``{'family': 'sam2'|'mitonet', 'mode'|'set', 'scale'}`` of a method id; ValueError if it is not one."""
    m = METHOD.match(method)
    if not m:
        raise ValueError(f"not a baseline method id: {method!r}")
    if m["mode"]:
        return {"family": "sam2", "mode": m["mode"]}
    return {"family": "mitonet", "set": m["set"], "scale": int(m["scale"])}


def weights_name(raw: Mapping[str, Any], model: str) -> str:
    """The file name (under the layout's ``weights``) of ``model``'s ('sam2' or 'mitonet') configured weights."""
    spec = raw["baselines"][model]["weights"]
    return spec["file"] if "file" in spec else spec["url"].rsplit("/", 1)[-1].split("?")[0]
