"""``python -m benchmarks.sizing --smoke`` times every stage and derives its rates and estimate consistently.

No speed is asserted (that depends on the machine, see benchmarks/README.md): only that every
stage ran, took positive time, and that each printed rate and estimate follows from the
seconds measured in the same run. The smoke mode is offline (a synthetic stack); the variant
on real VNC crops runs only where the local mirror is present.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import real_em, sizing

STAGES = ["validate", "prepare task", "fine-tune", "evaluate", "prepare volume", "predict set-up (auto)", "predict (auto)",
          "predict set-up (torch)", "predict (torch)", "measure"]


def _rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows printed, by their first cell (header and separator lines excluded)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("| ") and not re.match(r"^\|[-|]+\|$", ln)]
    return {cells[0]: cells for cells in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines)}


def _check(result: dict, out: str, json_file: Path) -> None:
    assert json.loads(json_file.read_text()) == json.loads(json.dumps(result))
    stages = {s["name"]: s for s in result["stages"]}
    assert list(stages) == STAGES
    rows = _rows(out)
    for name, s in stages.items():
        assert s["seconds"] > 0 and s["count"] > 0, s
        assert s["per_unit"] == pytest.approx(s["seconds"] / (s["count"] / sizing.PER[s["unit"]])), s
        assert float(rows[name][3].replace(",", "")) == pytest.approx(s["per_unit"], rel=1e-3), rows[name]  # printed to 4 digits
        assert rows[name][4] == f"s per {s['unit']}"
    assert stages["fine-tune"]["count"] == sizing.SMOKE_STEPS and stages["fine-tune"]["unit"] == "100 steps"
    n = len(result["stack"]["order"])
    assert stages["prepare task"]["count"] == stages["prepare volume"]["count"] == n
    assert stages["predict (auto)"]["count"] == math.prod(result["stack"]["prepared_shape"]) == stages["measure"]["count"]

    est = result["estimate"]
    per_step = stages["fine-tune"]["seconds"] / stages["fine-tune"]["count"]
    jobs, steps = est["jobs"], est["steps"]
    repeats, fractions, sources = est["recommend_repeats"], len(est["fractions"]), len(est["sources"])
    assert jobs == {"pretrain": sources * est["repeats"], "finetune": (sources + 1) * fractions * repeats, "scored": (sources + 1) * repeats}
    assert est["parts_s"]["fine-tuning"] == pytest.approx(jobs["finetune"] * steps["finetune"] * per_step)
    assert est["parts_s"]["pretraining"] == pytest.approx(jobs["pretrain"] * steps["pretrain"] * per_step)
    assert est["total_s"] == pytest.approx(sum(est["parts_s"].values())) == pytest.approx(est["variants_total_s"]["as configured"])
    assert est["dominant"] == max(est["parts_s"], key=est["parts_s"].get)
    assert all(0 < v <= est["total_s"] * (1 + 1e-9) for v in est["variants_total_s"].values())
    assert rows["total"][2].replace(",", "") and "SMOKE" in out
    assert re.search(r"^sizing: total_hours=\d+\.\d{3} dominant=\S+ s_per_100_steps=\S+ predict_s_per_mvoxel=\S+$", out, re.M), out


@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_sizing_smoke(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_json = tmp_path / "out" / "sizing.json"
    result = sizing.main(["--smoke", "--threads", "1", "--workdir", str(tmp_path / "work"), "--out", str(out_json)])
    _check(result, capsys.readouterr().out, out_json)
    assert result["stack"]["source"] == "synthetic kidney"
    assert not (tmp_path / "work" / "download").exists()  # offline: nothing fetched


def test_lab_stack_repeats_sections_as_tiff_and_0_255_png(tmp_path: Path) -> None:
    from vemtransfer.data.volume_io import open_volume

    sections = sizing.synthetic_sections(3, 64)
    image_dir, label_dir = sizing.write_lab_stack(sections, [0, 1, 2, 0], tmp_path / "stack", crop=48)
    image, label = open_volume(image_dir), open_volume(label_dir)
    assert image.shape == label.shape == (4, 48, 48) and image.dtype == np.uint8
    assert np.array_equal(image[3], image[0]) and np.array_equal(image[1], np.asarray(sections.image("main", 1))[:48, :48])
    assert set(np.unique(label[0:4]).tolist()) <= {0, 255} and label[0:4].max() == 255


@pytest.mark.skipif(not real_em.MIRROR.is_dir(), reason=f"the real-data mirror {real_em.MIRROR} is absent")
@pytest.mark.slow  # runs the benchmark end to end (training, subprocesses)
def test_sizing_smoke_on_vnc_crops_from_the_mirror(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = sizing.main(["--smoke", "--threads", "1", "--mirror", str(real_em.MIRROR), "--workdir", str(tmp_path)])
    _check(result, capsys.readouterr().out, tmp_path / "sizing.json")
    assert result["stack"]["source"].startswith("Drosophila VNC")
