"""The synthetic demo dataset: generated in memory, exposed through the section interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vemtransfer.data import synthetic
from vemtransfer.data.datasets.store import ArraySections


def generate(spec: Mapping[str, Any]) -> ArraySections:
    image, labels = synthetic.generate_tissue(spec["tissue"], tuple(spec["shape"]), spec.get("seed", 0))
    return ArraySections(image, labels)
