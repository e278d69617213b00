"""Raw volumes by source kind: one small reader per kind, chosen by the config's ``kind``.

A reader returns the whole source as a uint8 image plus one label volume per object class
(z, y, x). The synthetic ``generated`` kind makes its volume on the fly; the download kinds
(SNEMI3D, UroCell, EMPIAR-10791, the rat liver record) are declared in the workflow with
their real outputs but their readers are the data issue's work and fail with a clear
message until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer import synthetic


@dataclass(frozen=True)
class SourceVolume:
    image: np.ndarray
    labels: Mapping[str, np.ndarray]


def load_source(name: str, spec: Mapping[str, Any], raw_dir: str | Path | None = None) -> SourceVolume:
    """Read source ``name`` (its config ``spec``) from ``raw_dir``, or generate it."""
    kind = spec["kind"]
    if kind == "generated":
        image, labels = synthetic.generate_tissue(spec["tissue"], tuple(spec["shape"]), spec.get("seed", 0))
        return SourceVolume(image, labels)
    raise NotImplementedError(
        f"source {name!r} (kind {kind!r}): reading downloaded data is not implemented yet "
        "(the real-data issue: download rules and preprocessing). Use a config whose sources "
        "are kind 'generated' (config/demo.yaml) until then."
    )
