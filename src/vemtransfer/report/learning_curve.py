"""How many labels does a lab need? A learning curve fitted to the label fractions, with a bootstrap interval.

A lab that fine-tuned at several label fractions wants two numbers: how few labels would
have been enough, and what labelling more would buy. Reading them off the raw means (the
smallest fraction tried that reaches 95 % of the largest) can only answer with a fraction
that was tried, and says nothing beyond the data. A fitted curve interpolates between the
fractions and extrapolates one step beyond, and a bootstrap over the repeats says how far
that can be trusted.

The curve is an inverse power law, the usual shape of a learning curve, written relative to
the largest fraction tried ``f_max`` so that its parameters stay well conditioned with 3-5
fractions::

    IoU(f) = y - b * ((f / f_max) ** -c - 1)        y in [0, 100], b >= 0, c in (0, C_MAX]

``y`` is the IoU at ``f_max`` (the "full-label" IoU), ``b * c`` the slope in ``log f`` there
and ``y + b`` the plateau. It is non-decreasing by construction. From it:

- **labels needed**: the fraction at which the curve reaches ``ENOUGH`` (95 %) of ``y``;
- **2x more labels**: ``IoU(2 f_max) - IoU(f_max) = b (1 - 2 ** -c)`` IoU points, an
  extrapolation one doubling beyond the data.

Intervals: each bootstrap replicate resamples the repeats *within* each fraction (repeats at
different fractions do not share seeds, so there is nothing to pair across fractions), refits
and recomputes both numbers; the 2.5 / 97.5 percentiles are the 95 % interval. The seed is
fixed, so a report is reproducible.

The fit is **not resolved**, said in words and without a number, when: fewer than
``MIN_FRACTIONS`` fractions or fewer than 2 repeats at a fraction (no interval); the data are
non-monotone (a larger fraction scores lower than a smaller one by more than their noise:
something other than labels changed, e.g. epoch budgets); the curve is flat (the Welch 95 %
interval of the mean gain from the smallest to the largest fraction includes 0: every
fraction tried may already be enough); too many bootstrap refits fail; or the labels-needed
interval spans more than a factor ``MAX_RATIO``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy import optimize, stats

ENOUGH = 0.95
"""Share of the full-label IoU that counts as enough."""
MIN_FRACTIONS = 3
"""A 3-parameter curve needs at least 3 fractions."""
MAX_RATIO = 4.0
"""Widest labels-needed interval (upper / lower bound) still reported as resolved."""
C_MAX = 4.0
"""Steepest allowed exponent: beyond it the curve is a step and ``b`` stops being identifiable."""
C_MIN = 1e-3
_C_GRID = np.geomspace(C_MIN, C_MAX, 200)
MAX_FAILED = 0.1
"""Share of failed bootstrap refits above which the fit is called unstable."""
BOOTSTRAP = 500
SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A fitted quantity with its bootstrap 95 % interval (NaN when there is none)."""

    value: float
    lo: float
    hi: float


@dataclass(frozen=True)
class CurveFit:
    """A learning curve fitted to one source's IoUs (%) by label fraction.

    ``needed`` is a fraction of the task's training patches (the fractions' unit); ``gain_2x``
    is in IoU points. ``reasons`` says why the fit is not resolved (empty when it is).
    """

    fractions: tuple[float, ...]
    repeats: tuple[int, ...]
    full: float = math.nan
    b: float = math.nan
    c: float = math.nan
    needed: Estimate = Estimate(math.nan, math.nan, math.nan)
    gain_2x: Estimate = Estimate(math.nan, math.nan, math.nan)
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def resolved(self) -> bool:
        return not self.reasons

    def predict(self, f: np.ndarray | float) -> np.ndarray:
        """The fitted IoU (%) at fraction(s) ``f``."""
        return curve(np.asarray(f, dtype=float) / max(self.fractions), self.full, self.b, self.c)

    def sentence(self, source: str) -> str:
        """The answer in words: labels needed and the gain of 2x more labels, or why the fit does not tell."""
        f_max = max(self.fractions)
        if not self.resolved:
            return (f"**Labels: not resolved.** A learning curve fitted to {source}'s {len(self.fractions)} label fractions "
                    f"({', '.join(f'{100 * f:g} %' for f in sorted(self.fractions))}) cannot say how many labels are needed: "
                    + "; ".join(self.reasons) + ".")
        below = " (below the smallest fraction tried: an extrapolation)" if self.needed.value < min(self.fractions) else ""
        return (f"**Labels:** with {source}, the fitted learning curve reaches {100 * ENOUGH:g} % of the IoU at "
                f"{100 * f_max:g} % of the labels ({self.full:.1f} %) with **{_pct(self.needed.value)} of the labels** "
                f"[{_pct(self.needed.lo)}, {_pct(self.needed.hi)}]{below}. Labelling 2x more is expected to gain "
                f"**{self.gain_2x.value:+.1f} points** [{self.gain_2x.lo:+.1f}, {self.gain_2x.hi:+.1f}] (an extrapolation "
                f"one doubling beyond the data). 95 % bootstrap intervals over the repeats; inverse power law fitted to "
                f"{sum(self.repeats)} runs at {len(self.fractions)} fractions.")


def _pct(f: float) -> str:
    return f"{100 * f:.2g} %" if f < 0.1 else f"{100 * f:.0f} %"


def curve(x: np.ndarray, full: float, b: float, c: float) -> np.ndarray:
    """``full - b (x^-c - 1)``: the inverse power law in ``x = f / f_max``."""
    return full - b * (np.power(x, -c) - 1.0)


def needed_fraction(full: float, b: float, c: float, f_max: float) -> float:
    """Where the curve reaches ``ENOUGH * full`` (``f_max`` if it never drops that far below it)."""
    if b <= 0 or full <= 0:
        return f_max
    return f_max * (1.0 + (1.0 - ENOUGH) * full / b) ** (-1.0 / c)


def gain_of_doubling(b: float, c: float) -> float:
    """``IoU(2 f_max) - IoU(f_max)`` in points."""
    return b * (1.0 - 2.0 ** -c)


def _linear_part(x: np.ndarray, y: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each exponent in ``c``: the least-squares (full, b) within the bounds, and the residual sum of squares."""
    z = np.power(x[None, :], -c[:, None]) - 1.0  # (exponents, points)
    zc = z - z.mean(axis=1, keepdims=True)
    b = np.clip(-(zc @ (y - y.mean())) / np.maximum((zc**2).sum(axis=1), 1e-12), 0.0, 100.0)
    full = np.clip(y.mean() + b * z.mean(axis=1), 0.0, 100.0)
    return full, b, ((y[None, :] - (full[:, None] - b[:, None] * z)) ** 2).sum(axis=1)


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Bounded least-squares (full, b, c) of the curve through points (x = f / f_max, IoU %).

    Variable projection rather than a 3-parameter ``curve_fit``: for a fixed ``c`` the curve is
    linear in (full, b), solved in closed form, so only ``c`` is searched: a log grid finds
    the global basin (a 3-parameter fit to 3-5 points has flat valleys where a local
    optimiser started badly stalls), then a bounded scalar search polishes it. It cannot
    diverge, and the bootstrap's hundreds of refits take milliseconds each.
    """
    _, _, rss = _linear_part(x, y, _C_GRID)
    i = int(np.argmin(rss))
    lo, hi = np.log(_C_GRID[max(i - 1, 0)]), np.log(_C_GRID[min(i + 1, len(_C_GRID) - 1)])
    best = optimize.minimize_scalar(lambda t: float(_linear_part(x, y, np.array([np.exp(t)]))[2][0]), bounds=(lo, hi),
                                    method="bounded", options={"xatol": 1e-6})
    c = np.array([float(np.exp(best.x)) if best.fun <= rss[i] else float(_C_GRID[i])])
    full, b, _ = _linear_part(x, y, c)
    return float(full[0]), float(b[0]), float(c[0])


def _points(values: Mapping[float, Sequence[float]], f_max: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([np.full(len(v), f / f_max) for f, v in values.items()])
    return x, np.concatenate([np.asarray(v, dtype=float) for v in values.values()])


def _drops(values: Mapping[float, Sequence[float]]) -> list[str]:
    """Consecutive fractions where the larger scores lower than the smaller by more than their 95 % noise."""
    out = []
    fs = sorted(values)
    for lo, hi in pairwise(fs):
        a, b = np.asarray(values[lo], float), np.asarray(values[hi], float)
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        dof = max(min(len(a), len(b)) - 1, 1)
        if b.mean() - a.mean() < -stats.t.ppf(0.975, dof) * se:
            out.append(f"{100 * hi:g} % scores {b.mean() - a.mean():+.1f} points against {100 * lo:g} %")
    return out


def fit_learning_curve(values: Mapping[float, Mapping[int, float] | Sequence[float]], n_boot: int = BOOTSTRAP,
                       seed: int = SEED) -> CurveFit:
    """Fit the curve to IoUs (%) by fraction (``{fraction: {rep: iou}}`` or ``{fraction: [iou, ...]}``, NaNs dropped).

    Returns the fit with its bootstrap intervals, or with ``reasons`` saying why it does not
    resolve how many labels are needed (see the module docstring). Deterministic for a given ``seed``.
    """
    clean = {float(f): [float(x) for x in (v.values() if isinstance(v, Mapping) else v) if not math.isnan(x)] for f, v in values.items()}
    clean = {f: v for f, v in sorted(clean.items()) if v and f > 0}
    fractions, repeats = tuple(clean), tuple(len(v) for v in clean.values())
    if len(clean) < MIN_FRACTIONS:
        return CurveFit(fractions, repeats, reasons=(f"{len(clean)} label fraction(s) with runs; a curve needs at least {MIN_FRACTIONS}",))
    if min(repeats) < 2:
        return CurveFit(fractions, repeats, reasons=("one repeat at some fraction, so there is no interval; at least 2 are needed",))
    f_max = max(fractions)
    full, b, c = _fit(*_points(clean, f_max))
    reasons = [f"non-monotone data ({'; '.join(drops)}): something besides the labels changed between fractions"
               for drops in [_drops(clean)] if drops]
    boots, failed = _bootstrap(clean, f_max, n_boot, seed)
    if failed > MAX_FAILED * n_boot:
        reasons.append(f"the fit is unstable ({failed} of {n_boot} bootstrap refits failed)")
    if not len(boots):
        return CurveFit(fractions, repeats, full, b, c, reasons=tuple(reasons or ["every bootstrap refit failed"]))
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    needed = Estimate(needed_fraction(full, b, c, f_max), float(lo[0]), float(hi[0]))
    gain = Estimate(gain_of_doubling(b, c), float(lo[1]), float(hi[1]))
    rise = _rise(clean)
    if rise.lo <= 0:
        reasons.append(f"the curve is flat within the repeat noise ({100 * min(fractions):g} % to {100 * f_max:g} % of the labels gains "
                       f"{rise.value:+.1f} [{rise.lo:+.1f}, {rise.hi:+.1f}] points): every fraction tried may already be "
                       f"enough, possibly fewer than {100 * min(fractions):g} %")
    elif needed.hi > MAX_RATIO * max(needed.lo, 1e-9):
        reasons.append(f"the interval is too wide (labels needed {_pct(needed.value)} [{_pct(needed.lo)}, {_pct(needed.hi)}], "
                       f"more than a factor {MAX_RATIO:g}): more repeats or fractions would narrow it")
    return CurveFit(fractions, repeats, full, b, c, needed, gain, tuple(reasons))


def _rise(values: Mapping[float, Sequence[float]]) -> Estimate:
    """Mean IoU at the largest fraction minus at the smallest, with its Welch 95 % interval (repeats at
    different fractions have different seeds: independent samples, not pairs)."""
    a, b = (np.asarray(values[f], float) for f in (min(values), max(values)))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1.0
    half = float(stats.t.ppf(0.975, dof)) * se
    diff = float(b.mean() - a.mean())
    return Estimate(diff, diff - half, diff + half)


def _bootstrap(values: Mapping[float, Sequence[float]], f_max: float, n_boot: int, seed: int) -> tuple[np.ndarray, int]:
    """(rows of [labels needed, 2x gain], failed refits)."""
    rng = np.random.default_rng(seed)
    arrays = {f: np.asarray(v, float) for f, v in values.items()}
    rows, failed = [], 0
    for _ in range(n_boot):
        sample = {f: a[rng.integers(0, len(a), len(a))] for f, a in arrays.items()}
        try:
            full, b, c = _fit(*_points(sample, f_max))
        except (RuntimeError, ValueError):
            failed += 1
            continue
        rows.append((needed_fraction(full, b, c, f_max), gain_of_doubling(b, c)))
    return np.asarray(rows, dtype=float).reshape(-1, 2), failed
