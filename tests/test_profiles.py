"""Profiles name only rules that exist, and every rule that asks for a GPU gets one under SLURM."""

import re

import yaml


def _rules(repo) -> dict[str, str]:
    """Rule name -> its text, from workflow/rules/*.smk."""
    rules = {}
    for smk in sorted((repo / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):", smk.read_text(), flags=re.M)
        rules |= dict(zip(parts[1::2], parts[2::2]))
    return rules


def test_slurm_profile_names_existing_rules_and_every_gpu_rule(repo):
    profile = yaml.safe_load((repo / "profiles" / "slurm" / "config.yaml").read_text())
    rules = _rules(repo)
    named = set(profile["set-resources"])
    assert named <= set(rules), f"profiles/slurm names rules that do not exist: {sorted(named - set(rules))}"
    gpu_rules = {name for name, text in rules.items() if re.search(r"^\s+gpu=1,", text, flags=re.M)}
    assert gpu_rules, "no rule asks for a GPU: the pattern above is stale"
    assert {r for r in named if profile["set-resources"][r].get("gpu") == 1} == gpu_rules
