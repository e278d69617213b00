"""The synthetic tissues a ``generated`` dataset can be, and the objects each one has.

A fact of the config as much as of the generator: validation checks a task's label against it
before anything is generated, and :mod:`vemtransfer.data.synthetic` paints exactly these objects.
"""

from __future__ import annotations

TISSUES: tuple[str, ...] = ("brain", "kidney", "liver")
OBJECTS: dict[str, tuple[str, ...]] = {
    "brain": ("neurite",),
    "kidney": ("mito",),
    "liver": ("mito", "er", "ld"),
}
