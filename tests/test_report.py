import json
import math

import pytest

from vemtransfer.config import Scenario
from vemtransfer.report.figures import plot_fig2
from vemtransfer.report.tables import load_metrics, summarise, table2_outputs


def _write(tmp_path, source, target, budget, rep, fg, mean=None):
    path = tmp_path / f"{source}__{target}__{budget}__{rep}.json"
    path.write_text(json.dumps({"source": source, "target": target, "budget": budget, "rep": rep,
                                "scores": {"iou_fg": fg, "iou_mean": mean if mean is not None else (fg + 0.9) / 2}}))
    return path


@pytest.fixture
def grid(tmp_path):
    """Sources A, B; targets A, C; 3 repeats; hand-picked IoUs."""
    vals = {("NoPretrain", "A", "p10"): [0.5, 0.6, 0.7], ("NoPretrain", "C", "p10"): [0.2, 0.3, 0.4],
            ("A", "A", "full"): [0.9, 0.9, 0.9], ("A", "C", "p10"): [0.7, 0.8, 0.9],
            ("B", "A", "p10"): [0.6, 0.6, 0.9], ("B", "C", "p10"): [0.5, 0.5, 0.5]}
    return [_write(tmp_path, s, t, b, r + 1, v) for (s, t, b), vs in vals.items() for r, v in enumerate(vs)]


def test_summary_mean_sd_ci_by_hand(grid):
    s = summarise(load_metrics(grid), "iou_fg")
    row = s[(s.source == "NoPretrain") & (s.target == "A")].iloc[0]
    assert row["mean"] == pytest.approx(60.0) and row["sd"] == pytest.approx(10.0) and row["n"] == 3
    assert row["ci95"] == pytest.approx(4.302653 * 10 / math.sqrt(3), rel=1e-5)


def test_table2_cells_diagonal_and_best(grid):
    fg, md, long = table2_outputs(load_metrics(grid), ["A", "B"], ["A", "C"], "p10", demo=True)
    assert list(fg.index) == ["NoPretrain", "A", "B"] and list(fg.columns) == ["A", "C"]
    assert fg.loc["NoPretrain", "A"] == "60.00 ± 10.00"
    assert fg.loc["A", "A"] == "90.00 ± 0.00"  # diagonal = the pretrained model
    assert fg.loc["A", "C"] == "80.00 ± 10.00"
    assert fg.loc["B", "A"] == "70.00 ± 17.32"
    assert "**70.00 ± 17.32**" in md and "**80.00 ± 10.00**" in md  # best off-diagonal per column
    assert "*90.00 ± 0.00*" in md and md.startswith("> **DEMO OUTPUT**")
    assert set(long.metric) == {"iou_fg", "iou_mean"} and len(long) == 2 * 6


def test_missing_cells_stay_empty(grid):
    fg, _, _ = table2_outputs(load_metrics(grid), ["A", "B", "D"], ["A", "C"], "p10", demo=False)
    assert fg.loc["D"].tolist() == ["", ""]


def test_fig2_plots_every_scenario(tmp_path):
    paths = [_write(tmp_path, s, "C", f"f{f:g}", r, 0.5 + 0.1 * r) for s in ("NoPretrain", "A") for f in (1.0, 0.5) for r in (1, 2)]
    out = tmp_path / "fig" / "fig2.png"
    plot_fig2(paths, [Scenario("one", "A", "C"), Scenario("two", "A", "C")], [1.0, 0.5], out, demo=True)
    assert out.stat().st_size > 10_000 and not list(out.parent.glob("*.tmp"))


def test_paper_vs_ours_and_source_gains_by_hand(grid):
    from vemtransfer.report.ranking import paper_vs_ours, source_gains

    s = summarise(load_metrics(grid), "iou_fg")
    pvo = paper_vs_ours(s, ["A", "B"], ["A", "C"], "p10", {"NoPretrain": {"A": 55.0}, "A": {"C": 85.0}})
    row = pvo[(pvo.pretrain == "A") & (pvo.target == "C")].iloc[0]
    assert row["paper"] == 85.0 and row["ours_mean"] == pytest.approx(80.0) and row["ours_minus_paper"] == pytest.approx(-5.0)
    assert pvo[(pvo.pretrain == "B") & (pvo.target == "C")]["paper"].isna().all()
    per_target, per_source = source_gains(load_metrics(grid), ["A", "B"], ["A", "C"], "p10")
    c = per_target[per_target.target == "C"].set_index("source")
    assert c.loc["A", "gain"] == pytest.approx(50.0) and c.loc["A", "rank"] == 1  # 80 - 30
    assert c.loc["B", "gain"] == pytest.approx(20.0) and c.loc["B", "rank"] == 2
    # paired by repeat: A - NoPretrain on C is 50 in every repeat, so the interval has no width
    assert c.loc["A", "gain_lo"] == pytest.approx(50.0) and c.loc["A", "verdict"] == "better than no pretraining"
    # B - NoPretrain on C: 30, 20, 10 -> mean 20, sd 10, half-width t(2) 10 / sqrt(3)
    half = 4.302653 * 10 / math.sqrt(3)
    assert c.loc["B", "gain_lo"] == pytest.approx(20 - half, rel=1e-5) and c.loc["B", "gain_hi"] == pytest.approx(20 + half, rel=1e-5)
    assert c.loc["B", "verdict"] == "not distinguishable from no pretraining" and c.loc["B", "n"] == 3
    assert c.loc["A", "relative_gain_pct"] == pytest.approx(100 * 50 / 30)
    assert "A" not in per_target[per_target.target == "A"].source.tolist()  # diagonal is no transfer
    src = per_source.set_index("source")
    assert src.loc["B", "mean_gain"] == pytest.approx((10.0 + 20.0) / 2) and src.loc["B", "targets"] == 2
    assert per_source.source.tolist() == ["A", "B"]


def test_objects_with_less_than_half_overlap_are_mispredictions():
    import numpy as np

    from vemtransfer.report.objects import object_overlaps, split_by_overlap

    label = np.zeros((3, 10, 10), bool)
    label[:, 0:4, 0:4] = True  # object A is covered fully by the first prediction
    label[:, 6:8, 6:8] = True
    pred = np.zeros_like(label)
    pred[:, 0:4, 0:4] = True  # 100 % overlap
    pred[:, 6:8, 6:10] = True  # 2 of 4 columns overlap: exactly 50 % -> kept
    pred[:, 0:2, 8:10] = True  # no overlap -> misprediction
    pred[1, 9, 0:3] = True  # one voxel row of 3, none on the label -> misprediction
    ids, frac = object_overlaps(pred, label)
    assert sorted(np.round(frac[1:], 3)) == [0.0, 0.0, 0.5, 1.0]
    good, bad = split_by_overlap(pred, label)
    assert good.sum() == 3 * 16 + 3 * 8 and bad.sum() == 3 * 4 + 3
    assert not (good & bad).any() and ((good | bad) == pred).all()
