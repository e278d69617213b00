"""The shipped own-volume template (config/own_volume.yaml) validates as it is, checks clean once its
files exist, and copies the paper's source entries word for word."""

from __future__ import annotations

import numpy as np
import tifffile
import yaml

from vemtransfer.config import load_config
from vemtransfer.data.file_checks import check_config


def test_template_validates_as_shipped(repo):
    cfg = load_config(repo / "config" / "own_volume.yaml")
    assert cfg.raw["recommend"]["tasks"] == ["MyLab-M"] and cfg.raw["recipe"] == "cpu"


def test_template_checks_clean_with_files_at_its_paths(repo, tmp_path, monkeypatch):
    """What `vemtransfer validate` says once a lab's files are where the template points: nothing wrong."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "data" / "my_stack.tif", rng.integers(0, 256, (50, 64, 64), dtype=np.uint8))
    tifffile.imwrite(tmp_path / "data" / "my_mito.tif", (rng.random((50, 64, 64)) > 0.9).astype(np.uint8) * 255)
    cfg = check_config(repo / "config" / "own_volume.yaml")
    assert cfg.tasks["MyLab-M"].dataset == "my_lab"


def test_template_sources_are_the_paper_configs(repo):
    template = yaml.safe_load((repo / "config" / "own_volume.yaml").read_text())
    paper = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    for source in template["experiment"]["sources"]:
        assert template["tasks"][source] == paper["tasks"][source], source
        dataset = template["tasks"][source]["dataset"]
        assert template["datasets"][dataset] == paper["datasets"][dataset], dataset
