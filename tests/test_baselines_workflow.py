"""Table 3 end to end through Snakemake: weights downloaded from a loopback server (random
weights in the released formats), raw-resolution data, every SAM2 and MitoNet job, the table."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
import yaml

from baseline_models import random_mitonet, random_sam2
from loopback import FileServer
from workflow_helpers import snakemake

pytestmark = pytest.mark.workflow
pytest.importorskip("sam2", reason="the baselines extra is not installed: bash scripts/install.sh --baselines (README)")
pytest.importorskip("empanada", reason="the baselines extra is not installed: bash scripts/install.sh --baselines (README)")


def test_table3_rule_runs_end_to_end_with_random_weights(repo, tmp_path, tiny_raw):
    weights = tmp_path / "published"
    weights.mkdir()
    sam2_bytes = random_sam2(weights / "sam2.1_hiera_small.pt").read_bytes()
    mitonet_bytes = random_mitonet(weights / "MitoNet_v1.pth").read_bytes()
    with FileServer(weights) as srv:
        api = srv.put("api/records/6861565", json.dumps({"files": [{
            "key": "MitoNet_v1.pth", "size": len(mitonet_bytes), "checksum": "md5:" + hashlib.md5(mitonet_bytes).hexdigest(),
            "links": {"self": srv.url("MitoNet_v1.pth")}}]}).encode())
        task = "SynthLiver-M"
        tiny_raw["baselines"] = {
            "sections": [0, 2],
            "sam2": {
                "weights": {"url": srv.url("sam2.1_hiera_small.pt"), "sha256": hashlib.sha256(sam2_bytes).hexdigest(), "size": len(sam2_bytes)},
                # random weights clear no quality threshold: let every mask through
                "automatic": {"tasks": [task], "generator": {"points_per_side": 2, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}},
                "boxes": {"tasks": [task]}, "boxes_masks": {"tasks": [task], "batch": 4},
            },
            "mitonet": {
                "weights": {"api_url": api, "file": "MitoNet_v1.pth"},
                "zero_shot": {"tasks": [task], "scales": [1, 4]},
                "finetune": {"tasks": [task], "scales": [2], "patch": 32, "iterations": 2, "batch_size": 2, "workers": 0,
                             "sets": {"random4": {"mode": "random", "count": 4, "annotations": "Training masks (4 patches)"}}},
            },
        }
        tiny_raw["resources"]["baselines"] = {"threads": 1, "mem_mb": 1000, "runtime": 5}
        config = tmp_path / "tiny.yaml"
        config.write_text(yaml.safe_dump(tiny_raw))
        results = tmp_path / "results"
        res = snakemake(tmp_path, str(results / "tables" / "table3.csv"), "--cores", "2", "--resources", "gpu=1", "--configfile", str(config))
        assert res.returncode == 0, res.stderr[-6000:]

    table = pd.read_csv(results / "tables" / "table3.csv")
    assert list(table.method) == ["mitonet_1x", "mitonet_4x", "mitonet-random4_2x", "sam2_automatic", "sam2_boxes", "sam2_boxes_masks", "ours"]
    assert table.iou_fg.between(0, 100).all() and table.iou_mean.between(0, 100).all()
    assert table.paper.isna().all()  # no paper values for synthetic tasks
    long = pd.read_csv(results / "tables" / "table2_long.csv")
    best = long[(long.metric == "iou_fg") & (long.target == task) & (long.source == "SynthKidney-M") & (long.budget == "p3")]["mean"].iloc[0]
    assert table.set_index("method").loc["ours", "iou_fg"] == pytest.approx(best)
    md = (results / "tables" / "table3.md").read_text()
    assert "DEMO OUTPUT" in md and "test sections [0, 2] (a subset)" in md
    for method in table.method[:-1]:
        record = json.loads((results / "baselines" / task / f"{method}.json").read_text())
        assert record["test_sections"] == [0, 1] and record["demo"] is True
        assert (results / "baselines" / task / f"{method}.npz").is_file()
    # box prompts around every true object cover more of the truth than nothing
    assert table.set_index("method").loc["sam2_boxes", "iou_fg"] > 0
    finetuned = json.loads((results / "models" / "baselines" / "mitonet-random4" / f"{task}.json").read_text())
    assert finetuned["patches"] == 4 and finetuned["steps"] == 2
    logs = tmp_path / "logs"
    for rule in ("download_weights", "prepare_raw_split", "segment_sam2", "segment_mitonet", "finetune_mitonet", "make_table3"):
        assert list((logs / rule).rglob("*.log")), rule
    assert list((logs / "segment_sam2").rglob("*.benchmark.tsv"))
    assert (tmp_path / "resources" / "weights" / "MitoNet_v1.pth").read_bytes() == mitonet_bytes
