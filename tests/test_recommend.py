"""The recommendation knows its noise: paired gains with intervals, verdicts, and labels advice only when resolved."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from scipy import stats

from vemtransfer.report.recommend import build_recommendation, labels_advice, load_histories, rank_sources
from vemtransfer.report.stats import paired_gain, repeats_to_resolve, t_interval, verdict

FRACTIONS = [1.0, 0.5, 0.25]


def test_t_interval_and_paired_gain_by_hand():
    iv = t_interval([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert (iv.mean, iv.sd, iv.n) == (2.0, 1.0, 3) and iv.lo == pytest.approx(2 - half) and iv.hi == pytest.approx(2 + half)
    one = t_interval([5.0])
    assert one.n == 1 and math.isnan(one.lo) and not one.excludes_zero()
    # paired: a constant +2 gain on top of large repeat-to-repeat swings is resolved exactly
    gain = paired_gain({1: 52.0, 2: 72.0, 3: 62.0}, {1: 50.0, 2: 70.0, 3: 60.0, 4: 99.0})
    assert gain.n == 3 and gain.mean == pytest.approx(2.0) and gain.sd == pytest.approx(0.0) and gain.excludes_zero()
    assert verdict(gain) == "better than no pretraining"
    assert verdict(paired_gain({1: 50.0, 2: 60.0}, {1: 52.0, 2: 57.0})) == "not distinguishable from no pretraining"
    assert verdict(paired_gain({1: 40.0, 2: 41.0, 3: 39.0}, {1: 50.0, 2: 50.5, 3: 49.0})) == "worse than no pretraining"
    assert verdict(paired_gain({1: 60.0}, {1: 50.0})).endswith("(one repeat: no interval)")


def test_repeats_to_resolve_a_gain():
    assert repeats_to_resolve(sd=1.0, gain=3.0) == 3  # t(2) 1/sqrt(3) = 2.48 < 3, t(1)/sqrt(2) = 8.98
    n = repeats_to_resolve(sd=2.0, gain=3.0)
    assert n == 5  # t(3) 2/2 = 3.18 is not below 3; t(4) 2/sqrt(5) = 2.48 is
    assert stats.t.ppf(0.975, n - 1) * 2.0 / math.sqrt(n) < 3.0 <= stats.t.ppf(0.975, n - 2) * 2.0 / math.sqrt(n - 1)
    assert repeats_to_resolve(sd=100.0, gain=1.0, max_repeats=5) is None


def _histories(tmp_path, values: dict[tuple[str, float, int], float], steps: dict[float, int] | None = None, late: bool = False) -> list:
    paths = []
    for i, ((source, fraction, rep), iou) in enumerate(values.items()):
        planned = (steps or {}).get(fraction, 100)
        h = {"source": source, "target": "Lab-M", "budget": f"f{fraction:g}", "rep": rep, "best_val_iou_fg": iou / 100,
             "steps_planned": planned, "steps_done": planned, "best_step": planned if late else planned // 2}
        path = tmp_path / f"h{i}.json"
        path.write_text(json.dumps(h))
        paths.append(path)
    return paths


def _grid(base: dict[float, float], gains: dict[str, float], noise: dict[int, float], reps: int = 4) -> dict:
    """Validation IoU per (source, fraction, rep): a per-repeat offset shared by every source (pairing) plus each source's gain."""
    out = {}
    for source, gain in {"NoPretrain": 0.0, **gains}.items():
        for f, b in base.items():
            for r in range(1, reps + 1):
                out[(source, f, r)] = b + gain + noise[r] + ((0.6 if r % 2 else -0.6) if source == "Far-N" else 0.0)
    return out


def test_a_clear_gain_and_a_resolved_curve(tmp_path):
    noise = {1: -4.0, 2: 3.0, 3: 1.0, 4: 0.5}  # large, but shared by the sources of a repeat
    df = load_histories(_histories(tmp_path, _grid({1.0: 70.0, 0.5: 68.0, 0.25: 55.0}, {"Near-M": 5.0, "Far-N": 0.2}, noise)))
    table = rank_sources(df, FRACTIONS)
    assert table.source.tolist() == ["Near-M", "Far-N", "NoPretrain"]
    near = table.set_index("source").loc["Near-M"]
    assert near["gain"] == pytest.approx(5.0) and near["verdict"] == "better than no pretraining"
    assert table.set_index("source").loc["Far-N", "verdict"] == "not distinguishable from no pretraining"
    need, text = labels_advice(df, table, FRACTIONS)
    # the fitted curve through 60.1, 73.1, 75.1 (x 1/4, 1/2, 1) reaches 0.95 * 75.1 at 41 %, between the fractions tried
    assert need == pytest.approx(0.407, abs=0.005) and "not resolved" not in text and "Labelling 2x more" in text


def test_a_flat_curve_is_not_resolved_and_says_why(tmp_path):
    noise = {1: -2.0, 2: 2.5, 3: 0.0, 4: 1.0}
    values = _grid({1.0: 70.0, 0.5: 70.0, 0.25: 70.0}, {"Near-M": 0.1}, noise)
    values = {k: v + (0.7 if k[2] in (1, 3) and k[1] == 0.25 else -0.7 if k[1] == 0.25 else 0.0) for k, v in values.items()}
    df = load_histories(_histories(tmp_path, values, steps={1.0: 400, 0.5: 200, 0.25: 100}, late=True))
    table = rank_sources(df, FRACTIONS)
    need, text = labels_advice(df, table, FRACTIONS)
    assert need is None and "not resolved" in text
    assert "different numbers of steps" in text and "still improving" in text


def test_recommendation_files_say_when_sources_are_indistinguishable(tmp_path):
    noise = {1: -3.0, 2: 3.0}
    values = _grid({1.0: 70.0, 0.5: 60.0, 0.25: 50.0}, {"Near-M": 1.0}, noise, reps=2)
    values[("Near-M", 1.0, 2)] -= 2.0  # paired differences 1 and -1 (x3 fractions): interval around +0.3 includes 0
    out = {k: tmp_path / k for k in ("md", "csv", "png", "json")}
    md = build_recommendation(_histories(tmp_path, values), "Lab-M", FRACTIONS, out["md"], out["csv"], out["png"], out["json"], demo=False)
    assert "not distinguishable from no pretraining" in md and "No source is distinguishable" in md
    assert "Warning: the top two" in md  # the gap is below the repeat noise
    ranking = pd.read_csv(out["csv"])
    assert {"gain", "gain_lo", "gain_hi", "verdict", "repeats", "1_ci95", "0.25_gain", "0.25_gain_lo"} <= set(ranking.columns)
    assert "**At 25 % of the labels**" in md and "| 100 % of the labels" in md
    choice = json.loads(out["json"].read_text())
    assert choice["source"] == ranking.source[0] and choice["budget"] == "f1"
    assert "labels needed (% of patches)" in md and "2x labels gain (points)" in md  # the learning-curve table
    assert {"labels_needed", "labels_needed_interval", "gain_2x_labels"} <= set(choice)
