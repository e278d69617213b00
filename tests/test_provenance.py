"""Job configs and code digests: what Snakemake compares to decide a rerun, and what results record."""

from __future__ import annotations

import pytest

from vemtransfer.config import ConfigError, job_config, job_view, validate_config
from vemtransfer.core.provenance import PACKAGE_DIR, code_closure, code_digest

SCRIPTS = PACKAGE_DIR.parents[1] / "workflow" / "scripts"


def test_job_config_holds_exactly_the_declared_keys_in_a_stable_order(tiny_raw):
    cfg = validate_config(tiny_raw)
    job = job_config(cfg, "train.sampling", "patches.size", "seed", tasks=["SynthLiver-M"], datasets=["synthetic_liver"])
    assert set(job) == {"train", "patches", "seed", "tasks", "datasets"}
    assert job["train"] == {"sampling": cfg.raw["train"]["sampling"]} and list(job["tasks"]) == ["SynthLiver-M"]
    assert list(job) == sorted(job)  # key order cannot trigger a rerun
    reordered = dict(reversed(list(tiny_raw.items())))
    assert job_config(validate_config(reordered), "train.sampling", "patches.size", "seed", tasks=["SynthLiver-M"],
                      datasets=["synthetic_liver"]) == job


def test_a_job_view_refuses_keys_its_job_did_not_declare(tiny_raw):
    view = job_view(job_config(validate_config(tiny_raw), "patches.size", tasks=["SynthKidney-M"]))
    assert view.patch_size == tuple(tiny_raw["patches"]["size"]) and view.tasks["SynthKidney-M"].label == "mito"
    with pytest.raises(ConfigError, match="'model' is not part of this job's config"):
        view.model


def test_the_job_config_hash_changes_with_what_the_job_reads_only(tiny_raw):
    a = validate_config(tiny_raw)
    tiny_raw["train"]["lr"] = 0.5
    b = validate_config(tiny_raw)
    assert a.hash != b.hash  # the whole config
    prep = ("patches", "seed", "train.sampling", "train.validation.size")
    assert job_view(job_config(a, *prep)).hash == job_view(job_config(b, *prep)).hash
    assert job_view(job_config(a, "train")).hash != job_view(job_config(b, "train")).hash


def test_code_closure_follows_imports_and_keeps_report_code_out_of_training():
    training = {p.relative_to(PACKAGE_DIR).as_posix() for p in code_closure(SCRIPTS / "finetune_model.py")}
    assert {"jobs/training.py", "training/train.py", "model/loss.py", "model/network.py", "config/views.py", "config/__init__.py",
            "__init__.py", "jobs/__init__.py"} <= training
    assert not any(p.startswith(("report/", "baselines/", "data/datasets/")) for p in training)
    assert not {"config/validation.py", "config/checks.py", "config/recipe.py"} & training  # run before scheduling, never in a job
    table2 = {p.relative_to(PACKAGE_DIR).as_posix() for p in code_closure(SCRIPTS / "make_table2.py")}
    assert "report/figures.py" in table2 and "model/loss.py" not in table2


def test_code_digest_ignores_comments_but_not_code(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("from vemtransfer.core.seeds import job_seed\nprint(job_seed(1))\n")
    digest = code_digest(script)
    script.write_text("# a comment\nfrom vemtransfer.core.seeds import job_seed\nprint(job_seed(1))  # same code\n")
    assert code_digest(script) == digest
    script.write_text("from vemtransfer.core.seeds import job_seed\nprint(job_seed(2))\n")
    assert code_digest(script) != digest


def test_every_workflow_script_reads_its_config_from_params():
    for script in SCRIPTS.glob("*.py"):
        text = script.read_text()
        assert "snakemake.config" not in text and "sm.config" not in text, script.name
