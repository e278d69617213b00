"""The model-id and budget grammar (config.grid): one type that formats and parses, used by the rules."""

import re

import pytest

from vemtransfer.config.grid import BUDGET_PATTERN, MODEL_ID_PATTERN, PRETRAIN_BUDGET, Run, budget_size, fraction_budget


@pytest.mark.parametrize("run", [
    Run("SNEMI3D-N", "SNEMI3D-N", PRETRAIN_BUDGET, 1),
    Run("NoPretrain", "Urocell-M", "f0.25", 3),
    Run("MouseLiver-ER", "RatLiver-M", "p100", 10),
    Run("SynthBrain-N", "FlyVNC-M", fraction_budget(1.0), 2),
])
def test_model_id_round_trip(run):
    assert Run.parse(run.model_id) == run
    assert re.fullmatch(MODEL_ID_PATTERN, run.model_id)


@pytest.mark.parametrize("bad", ["pretrain/SNEMI3D-N/rep0", "finetune/A-M__B-N/f1.5/rep1", "finetune/A-M_B-N/p10/rep1",
                                 "finetune/A-M__B-N/full/rep1", "pretrain/SNEMI3D-N", "finetune/a__B-N/p0/rep1"])
def test_bad_model_ids_are_refused(bad):
    with pytest.raises(ValueError, match="model id"):
        Run.parse(bad)
    assert not re.fullmatch(MODEL_ID_PATTERN, bad)


def test_budgets_the_grid_writes_are_budgets_the_rules_accept():
    for fraction in (1.0, 0.75, 0.5, 0.25, 0.1, 0.05):
        budget = fraction_budget(fraction)
        assert re.fullmatch(BUDGET_PATTERN, budget)
        assert budget_size(budget, 200) == max(1, round(fraction * 200))
    assert not re.fullmatch(BUDGET_PATTERN, PRETRAIN_BUDGET)  # a fine-tuning budget never says full
    with pytest.raises(ValueError, match="only 5 exist"):
        budget_size("p6", 5)
