"""Means with 95 % t-intervals, and paired gains over a baseline across repeats.

Repeat ``r`` of every source fine-tuned on a target at a budget uses the same seed, hence
the same batches, augmentations and label subset (``runs.train_run``); only the starting
weights differ. A source's gain over NoPretrain is therefore measured repeat by repeat,
and its interval comes from the spread of those paired differences, which is much tighter
than comparing two independent means when repeats share most of their noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vemtransfer.config import NO_PRETRAIN

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with its 95 % t-interval (``lo``/``hi`` NaN when ``n < 2``)."""

    mean: float
    sd: float
    n: int
    lo: float
    hi: float

    @property
    def half(self) -> float:
        return (self.hi - self.lo) / 2

    def excludes_zero(self) -> bool:
        """The interval lies wholly above or below 0 (False when it is undefined)."""
        return bool(self.lo > 0 or self.hi < 0)

    def text(self, unit: str = "") -> str:
        """``+3.1 [0.4, 5.8]`` (or ``+3.1, one repeat: no interval``)."""
        if self.n < 2:
            return f"{self.mean:+.1f}{unit} (one repeat: no interval)"
        return f"{self.mean:+.1f}{unit} [{self.lo:+.1f}, {self.hi:+.1f}]"


def t_interval(values: Sequence[float]) -> Interval:
    """Mean, sd and 95 % t-interval of ``values`` (NaNs dropped)."""
    v = np.asarray([x for x in values if x == x], dtype=float)
    n = len(v)
    if n == 0:
        return Interval(math.nan, math.nan, 0, math.nan, math.nan)
    mean = float(v.mean())
    if n < 2:
        return Interval(mean, math.nan, n, math.nan, math.nan)
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, sd, n, mean - half, mean + half)


def paired_gain(candidate: dict[int, float], baseline: dict[int, float]) -> Interval:
    """Interval of ``candidate[r] - baseline[r]`` over the repeats both have."""
    return t_interval([candidate[r] - baseline[r] for r in sorted(set(candidate) & set(baseline))])


def values_by_repeat(runs: pd.DataFrame, where: Mapping[str, object], value: str, scale: float = 1.0) -> dict[int, float]:
    """``{rep: scale * value}`` of the rows of ``runs`` whose columns equal ``where`` (one cell: a source, a target, a budget).

    The one way the reports (Table 2's source gains, the recommendation) read a cell's
    repeats, so that pairing by repeat means the same thing everywhere.
    """
    hit = runs
    for column, wanted in where.items():
        hit = hit[hit[column] == wanted]
    return {int(r): scale * float(v) for r, v in zip(hit["rep"], hit[value])}


def gain_over_no_pretrain(runs: pd.DataFrame, source: str, where: Mapping[str, object], value: str,
                          scale: float = 1.0) -> Interval | None:
    """``source``'s gain over NoPretrain in the cell ``where`` (e.g. a target and a budget), paired by repeat.

    None when either has no runs there: no comparison rather than a NaN that reads as one.
    """
    base = values_by_repeat(runs, {"source": NO_PRETRAIN, **where}, value, scale)
    candidate = values_by_repeat(runs, {"source": source, **where}, value, scale)
    return paired_gain(candidate, base) if base and candidate else None


def verdict(gain: Interval) -> str:
    """Words for a paired gain over NoPretrain: better, worse, or not distinguishable (interval includes 0)."""
    if gain.n < 2:
        return "not distinguishable from no pretraining (one repeat: no interval)"
    if gain.lo > 0:
        return "better than no pretraining"
    if gain.hi < 0:
        return "worse than no pretraining"
    return "not distinguishable from no pretraining"


def repeats_to_resolve(sd: float, gain: float, max_repeats: int = 20) -> int | None:
    """Fewest repeats whose expected 95 % interval half-width, ``t(n-1) sd / sqrt(n)``, is below ``gain``.

    ``sd``: the standard deviation of paired differences; None if even ``max_repeats`` do not suffice.
    """
    for n in range(2, max_repeats + 1):
        if stats.t.ppf(0.5 + LEVEL / 2, n - 1) * sd / math.sqrt(n) < gain:
            return n
    return None
