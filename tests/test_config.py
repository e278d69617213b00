import copy

import pytest
import yaml

from vemtransfer.config import ConfigError, load_config, validate_config
from vemtransfer.config.grid import job_counts


def test_shipped_configs_validate(repo):
    paper = load_config(repo / "config" / "config.yaml")
    assert paper.model.widths == (28, 36, 48, 64, 80)
    assert paper.tasks["RatLiver-ER"].test.slices()[2] == slice(560, 1000, 1)
    assert load_config(repo / "config" / "demo.yaml").demo is True


def test_paper_grid_job_counts(repo):
    counts = job_counts(load_config(repo / "config" / "config.yaml").experiment)
    assert counts["pretrain_model"] == 15  # 5 sources x 3 repeats
    assert counts["finetune_model (Table 2)"] == (6 * 7 - 5) * 3  # rows x targets minus the diagonal
    assert counts["finetune_model (Fig. 2)"] == (3 + 2) * 5 * 3  # 3 transfer + 2 baseline targets, 5 fractions
    assert counts["evaluate_model"] == 15 + 111 + 75


def test_defaults_are_filled(tiny_raw):
    cfg = validate_config(tiny_raw)
    assert cfg.raw["train"]["lr"] == 0.002 and cfg.raw["train"]["pos_weight"] == 5.0
    assert cfg.evaluation.threshold == 0.5
    assert cfg.tasks["SynthKidney-M"].val_axis == "y"
    assert cfg.train_config("finetune").max_steps == 2


def _error(raw) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_config(raw)
    return str(exc.value)


def test_unknown_task_id_names_the_key(tiny_raw):
    tiny_raw["experiment"]["targets"].append("SynthLiver-X")
    msg = _error(tiny_raw)
    assert "experiment.targets[2]" in msg and "SynthLiver-X" in msg


def test_fraction_outside_unit_interval(tiny_raw):
    for bad in (0, 1.5, -0.1):
        raw = copy.deepcopy(tiny_raw)
        raw["experiment"]["fractions"] = [1.0, bad]
        assert "experiment.fractions[1]" in _error(raw)


def test_missing_key(tiny_raw):
    del tiny_raw["tasks"]["SynthKidney-M"]["train"]
    msg = _error(tiny_raw)
    assert "tasks.SynthKidney-M" in msg and "'train' is a required property" in msg


def test_a_task_without_test_region_serves_only_where_nothing_is_scored(tiny_raw):
    del tiny_raw["tasks"]["SynthLiver-M"]["test"]
    msg = _error(tiny_raw)  # a Table 2 target, and shown in Figs. 3 and 4
    for where in ("experiment.targets[1]", "figures.fig3.target", "figures.fig4.pairs[0].target"):
        assert f"{where}: task SynthLiver-M has no test region" in msg, where
    tiny_raw["experiment"] |= {"targets": [], "scenarios": []}
    tiny_raw["figures"] = {"fig5": tiny_raw["figures"]["fig5"]}
    assert "nothing would be fine-tuned" in _error(tiny_raw)
    tiny_raw["recommend"] = {"tasks": ["SynthLiver-M"]}
    task = validate_config(tiny_raw).tasks["SynthLiver-M"]
    assert task.test is None and task.regions() == [task.train]


def test_sparse_labels_are_parsed_and_kept_out_of_figures_and_baselines(tiny_raw):
    tiny_raw["tasks"]["SynthLiver-M"]["labelled_sections"] = [1, 5, 9]
    msg = _error(tiny_raw)
    assert "figures.fig3.target: task SynthLiver-M is sparsely labelled" in msg and "figures.fig4.pairs[0].target" in msg
    del tiny_raw["figures"]["fig3"], tiny_raw["figures"]["fig4"]
    assert validate_config(tiny_raw).tasks["SynthLiver-M"].labelled == frozenset({1, 5, 9})
    tiny_raw["tasks"]["SynthLiver-M"]["labelled_sections"] = [1, 1]
    assert "labelled_sections" in _error(tiny_raw)


def test_misspelt_key(tiny_raw):
    tiny_raw["train"]["learning_rate"] = 0.1
    msg = _error(tiny_raw)
    assert msg.count("\n") == 1 and "train:" in msg and "learning_rate" in msg


def test_cross_references(tiny_raw):
    tiny_raw["tasks"]["SynthKidney-M"]["label"] = "er"
    tiny_raw["experiment"]["scenarios"][0]["source"] = "SynthLiver-M"
    msg = _error(tiny_raw)
    assert "tasks.SynthKidney-M.label" in msg and "experiment.scenarios[0].source" in msg


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_config_hash_changes_with_content(tiny_raw):
    a = validate_config(tiny_raw).hash
    tiny_raw["seed"] = 8
    assert validate_config(tiny_raw).hash != a


def test_figure_runs_and_references(repo, tiny_raw):
    from vemtransfer.config.grid import Run, figure_runs

    paper = load_config(repo / "config" / "config.yaml")
    runs = figure_runs(paper.raw["figures"], paper.experiment)
    assert runs["fig3"] == [Run("NoPretrain", "Urocell-M", "f0.25", 1), Run("SNEMI3D-N", "Urocell-M", "f0.25", 1)]
    assert Run("MouseLiver-ER", "RatLiver-ER", "p100", 1) in runs["fig4"] and len(runs["fig4"]) == 4
    assert runs["fig5"] == [Run("SNEMI3D-N", "RatLiver-M", "p100", 1), Run("MouseLiver-ER", "RatLiver-ER", "p100", 1)]
    tiny_raw["figures"] = {"fig4": {"pairs": [{"source": "SynthKidney-M", "target": "SynthLiver-X"}]}}
    assert "figures.fig4.pairs[0].target" in _error(tiny_raw)


def test_fig5_volume_is_its_own_download(repo):
    from vemtransfer.data.datasets import needed_sections

    paper = load_config(repo / "config" / "config.yaml")
    volume = needed_sections(paper, "ratliver_volume")
    assert volume == {"main": {"image": list(range(219))}}  # images only, all 219 sections
    tasks = needed_sections(paper, "ratliver")["main"]
    assert tasks["image"] == list(range(18, 55)) and tasks["er"] == list(range(18, 36))


def test_folds_cycle_over_repeats_and_each_has_its_own_data(tiny_raw):
    kidney = tiny_raw["tasks"]["SynthKidney-M"]
    del kidney["train"], kidney["test"]
    kidney["folds"] = [{"train": {"z": [0, 8]}, "test": {"z": [8, 12]}}, {"train": {"z": [4, 12]}, "test": {"z": [0, 4]}}]
    task = validate_config(tiny_raw).tasks["SynthKidney-M"]
    assert [task.fold(r) for r in (1, 2, 3)] == [1, 2, 1]
    assert [task.data_id(r) for r in (1, 2)] == ["SynthKidney-M/fold1", "SynthKidney-M/fold2"] == task.data_ids()
    assert task.train.z == (0, 8, 1) and task.for_data("SynthKidney-M/fold2").test.z == (0, 4, 1)
    assert [r.z for r in task.regions()] == [(0, 8, 1), (8, 12, 1), (4, 12, 1), (0, 4, 1)]
    with pytest.raises(ValueError, match="not a data id"):
        task.for_data("SynthKidney-M/fold3")
    liver = validate_config(tiny_raw).tasks["SynthLiver-M"]
    assert liver.fold(2) is None and liver.data_ids() == ["SynthLiver-M"] and liver.for_data("SynthLiver-M") is liver
    kidney["train"] = {"z": [0, 8]}
    assert "give either train/test or folds, not both" in _error(tiny_raw)
