"""Paper Table 3 baselines: SAM2.1 and MitoNet on 2D sections at the raw resolution.

Their heavy dependencies (torchvision, sam2, empanada) are the optional ``baselines`` extra,
so the rest of the package, the demo and the CPU install never need them. ``require`` turns
a missing dependency into one message naming the install command.
"""

from __future__ import annotations

import importlib
import importlib.util

INSTALL_HINT = (
    "install the baselines extra: SAM2_BUILD_CUDA=0 pip install --no-build-isolation -e '.[baselines]' "
    "&& pip install --no-deps 'empanada-napari==1.2.4' (or: bash scripts/install.sh --baselines; see README, "
    "'Baselines (Table 3)')"
)


class BaselineUnavailable(ImportError):
    """A baseline's dependencies are not installed."""


def require(*modules: str, locate_only: tuple[str, ...] = ()) -> None:
    """Import ``modules`` (and find, without importing, ``locate_only``) or raise
    :class:`BaselineUnavailable` naming the install command.

    Importing catches broken installs too (PyPI's torchvision beside a CPU-only torch wheel
    fails at import); ``locate_only`` is for packages whose ``__init__`` must not run.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise BaselineUnavailable(f"the Table 3 baselines need {name!r} ({exc}); {INSTALL_HINT}") from exc
    for name in locate_only:
        if importlib.util.find_spec(name) is None:
            raise BaselineUnavailable(f"the Table 3 baselines need {name!r} (not installed); {INSTALL_HINT}")
