"""config/mini.yaml end to end on the real data, served from a local mirror.

The mirror (``shared/testdata`` beside the repository) holds the files exactly as
https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path> serves them, so only the
host part of the config's URLs changes: the real download code, the checksum files, the
data, the preprocessing and the tasks are those of config/mini.yaml. To fit CI, only the
training lengths, repeats and fractions are shrunk. Without the mirror, the tests that need
it skip with a reason; the shipped config's dry run always runs.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from vemtransfer.data.datasets.section_files import read_sha256sums
from vemtransfer.data.datasets.store import SectionStore

from loopback import FileServer
from workflow_helpers import job_stats
from workflow_helpers import snakemake as run_snakemake

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
TESTDATA = Path(__file__).parents[2] / "shared" / "testdata"
VNC = "unidesigner/groundtruth-drosophila-vnc/4a5f051466d24d8dc1e855ab55658bb1b1dcd6bf"
MEDULLA = "janelia-flyem/neuroproof_examples/ce839e17deaf4c01153827c6d028dfecfbb4b958"
SOURCES = ["NoPretrain", "FlyMedulla-N", "SynthKidney-M"]

needs_mirror = pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"the real-data mirror {TESTDATA} is absent")


def mirrored_config(base_url: str, workdir: Path) -> dict:
    """config/mini.yaml with its URLs on ``base_url``, outputs under ``workdir`` and training shrunk for
    CI (nothing else changed: the relative checksum paths are found beside the Snakefile)."""
    raw = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    for spec in raw["datasets"].values():
        if "base_url" in spec:
            assert spec["base_url"].startswith("https://raw.githubusercontent.com/")
            spec["base_url"] = spec["base_url"].replace("https://", f"{base_url}/", 1)
    for key in ("results_dir", "resources_dir", "logs_dir"):
        raw[key] = str(workdir / raw[key])
    raw["train"] |= {"pretrain": {"steps": 10}, "finetune": {"steps": 5}, "val_every": 5, "validation": {"crops": 4}}
    raw["experiment"] |= {"repeats": 1, "fractions": [1.0, 0.5]}
    raw["recommend"]["repeats"] = 1
    return raw


def snakemake(workdir: Path, raw: dict, *targets: str) -> subprocess.CompletedProcess:
    config = workdir / "mini.yaml"
    config.write_text(yaml.safe_dump(raw))
    return run_snakemake(workdir, *targets, "--cores", "2", "--configfile", str(config))


def published_sha256() -> dict[str, str]:
    """The mirror's own SHA256SUMS, by URL path (independent of the config's checksum files)."""
    return {f"/{p}": h for p, h in read_sha256sums(TESTDATA / "SHA256SUMS").items()}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """One shrunk run of the whole mini workflow against the mirror: (workdir, config, GET paths)."""
    workdir = tmp_path_factory.mktemp("mini")
    with FileServer(TESTDATA) as server:
        raw = mirrored_config(server.base_url, workdir)
        res = snakemake(workdir, raw)
        assert res.returncode == 0, res.stderr[-5000:]
        return workdir, raw, server.behaviour.paths()


def test_the_shipped_config_pins_its_files_and_plans_the_experiment(tmp_path):
    raw = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    assert raw["demo"] is False  # real EM: no DEMO banners
    for spec in (raw["datasets"][s] for s in ("fly_vnc", "fly_medulla")):
        assert spec["base_url"].startswith("https://raw.githubusercontent.com/") and len(spec["base_url"].rsplit("/", 1)[1]) == 40
        assert all(len(h) == 64 for h in read_sha256sums(REPO / spec["sha256sums"]).values())
    res = run_snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(REPO / "config" / "mini.yaml"), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = job_stats(res.stdout + res.stderr)
    # 2 sources x 3 repeats; (NoPretrain + 2 sources) x 3 fractions x 3 repeats, Table 2 being the 100 % point
    assert jobs["download_dataset"] == 2 and jobs["prepare_task"] == 3 and jobs["pretrain_model"] == 6
    assert jobs["finetune_model"] == jobs["evaluate_model"] == 27 and jobs["recommend_source"] == 1


@needs_mirror
def test_the_checksum_files_list_exactly_the_files_the_mini_uses_as_published():
    published = published_sha256()
    datasets = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())["datasets"]
    for name, (repo, files) in {"fly_vnc": (VNC, 40), "fly_medulla": (MEDULLA, 51)}.items():
        sums = read_sha256sums(REPO / datasets[name]["sha256sums"])
        assert len(sums) == files
        assert all(published[f"/raw.githubusercontent.com/{repo}/{rel}"] == h for rel, h in sums.items())


@needs_mirror
def test_a_tampered_file_fails_with_its_url_and_leaves_no_completed_output(tmp_path):
    tampered = f"/raw.githubusercontent.com/{VNC}/stack1/raw/07.tif"
    with FileServer(TESTDATA) as server:
        server.behaviour.corrupt = {tampered: (TESTDATA / tampered[1:]).read_bytes()[:-1] + b"\x01"}
        raw = mirrored_config(server.base_url, tmp_path)
        res = snakemake(tmp_path, raw, f"{raw['resources_dir']}/prepared/FlyVNC-M/patches.json")
    assert res.returncode != 0
    assert f"{server.base_url}{tampered}: downloaded file fails verification: sha256 expected" in res.stdout + res.stderr
    assert not (Path(raw["resources_dir"]) / "raw" / "fly_vnc" / "manifest.json").exists()
    assert not (Path(raw["resources_dir"]) / "prepared").exists()


@needs_mirror
def test_downloads_fetch_only_the_needed_sections_each_verified(mini):
    workdir, raw, fetched = mini
    medulla = [f"/raw.githubusercontent.com/{MEDULLA}/training_sample2/grayscale_maps/iso.{2600 + z}.png" for z in range(0, 250, 5)]
    vnc = [f"/raw.githubusercontent.com/{VNC}/stack1/{d}/{z:02d}.{e}" for z in range(20) for d, e in (("raw", "tif"), ("mitochondria", "png"))]
    expected = {*medulla, f"/raw.githubusercontent.com/{MEDULLA}/training_sample2/groundtruth.h5.gz", *vnc}
    assert sorted(fetched) == sorted(expected)  # every 5th medulla slice, each file once
    published = published_sha256()
    for dataset in ("fly_vnc", "fly_medulla"):
        manifest = json.loads((Path(raw["resources_dir"]) / "raw" / dataset / "manifest.json").read_text())
        for record in manifest:
            path = "/" + record["url"].split("/", 3)[3]
            assert record["sha256"] == published[path] and record["size"] == (TESTDATA / path[1:]).stat().st_size
        assert len(manifest) == {"fly_vnc": 40, "fly_medulla": 51}[dataset]


@needs_mirror
def test_the_lab_volume_is_rescaled_to_the_medulla_pixel_size(mini):
    workdir, raw, _ = mini
    prepared = Path(raw["resources_dir"]) / "prepared" / "FlyVNC-M"
    side = round(1024 * 4.6 / 10)  # 1024 px at 4.6 nm -> 10 nm
    test = np.load(prepared / "test.image.npy", mmap_mode="r")
    train, val = (np.load(prepared / f"{s}.label.npy", mmap_mode="r") for s in ("train", "val"))
    assert test.shape == (5, side, side) and train.shape[0] == val.shape[0] == 15
    assert train.shape[1] + val.shape[1] == side and train.shape[2] == side
    label = np.load(prepared / "test.label.npy")
    assert set(np.unique(label)) == {0, 1} and 0.01 < label.mean() < 0.2  # mitochondria, a few % of the volume
    table1 = pd.read_csv(Path(raw["results_dir"]) / "tables" / "table1.csv").set_index("task")
    assert table1.loc["FlyVNC-M", "voxel_nm_prepared"] == table1.loc["FlyMedulla-N", "voxel_nm_prepared"] == "50 x 10 x 10"


@needs_mirror
def test_medulla_labels_are_the_bodies_of_the_h5_without_their_boundaries(mini):
    workdir, raw, _ = mini
    with h5py.File(io.BytesIO(gzip.decompress((TESTDATA / "raw.githubusercontent.com" / MEDULLA / "training_sample2" / "groundtruth.h5.gz").read_bytes()))) as h5:
        table = h5["transforms"][:]
        lut = np.zeros(table[:, 0].max() + 1, np.int64)
        lut[table[:, 0]] = table[:, 1]
        zs = list(range(200, 250, 5))
        bodies = lut[h5["stack"][zs]]
    store = SectionStore(Path(raw["resources_dir"]) / "raw" / "fly_medulla")
    prepared = np.load(Path(raw["resources_dir"]) / "prepared" / "FlyMedulla-N" / "test.label.npy")
    darker = []
    for i, z in enumerate(zs):
        assert np.array_equal(store.label("neurite", "main", z), bodies[i])
        padded = np.pad(bodies[i], 1, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
        boundary = (windows != bodies[i][..., None, None]).any(axis=(-1, -2))
        assert np.array_equal(prepared[i] == 1, ~boundary & (bodies[i] != 0)), z
        image = store.image("main", z).astype(float)
        darker.append(image[~boundary].mean() - image[boundary].mean())
    assert 0.5 < prepared.mean() < 0.95  # both classes present
    assert min(darker) > 15  # body boundaries lie on the dark membranes of the same-numbered slice


@needs_mirror
def test_recommendation_learning_curve_and_table2_name_the_sources(mini):
    workdir, raw, _ = mini
    results = Path(raw["results_dir"])
    ranking = pd.read_csv(results / "recommend" / "FlyVNC-M" / "recommendation.csv")
    assert sorted(ranking["source"]) == sorted(SOURCES) and sorted(ranking["rank"]) == [1, 2, 3]
    text = (results / "recommend" / "FlyVNC-M" / "recommendation.md").read_text()
    assert all(s in text for s in SOURCES) and "DEMO" not in text
    assert "Pretrain on" in text or "No pretraining source beat" in text
    assert "paired by repeat" in text and ("Labels: not resolved" in text or "**Labels:** with" in text)
    assert {"gain", "gain_lo", "gain_hi", "verdict"} <= set(ranking.columns)
    assert (results / "recommend" / "FlyVNC-M" / "learning_curve.png").stat().st_size > 10_000
    table2 = pd.read_csv(results / "tables" / "table2.csv", index_col=0)
    assert list(table2.index) == SOURCES and list(table2.columns) == ["FlyVNC-M"]
    assert "DEMO" not in (results / "tables" / "table2.md").read_text()
    assert (results / "figures" / "fig2.png").stat().st_size > 10_000


@needs_mirror
def test_a_new_checksum_list_or_other_needed_sections_download_again(mini, tmp_path):
    workdir, raw, _ = mini
    manifests = [f"{raw['resources_dir']}/raw/{s}/manifest.json" for s in ("fly_vnc", "fly_medulla")]

    def planned(cfg: dict) -> dict[str, int]:
        res = snakemake(workdir, cfg, "-n", *manifests)
        assert res.returncode == 0, res.stderr[-3000:]
        out = res.stdout + res.stderr
        return job_stats(out) if "Job stats:" in out else {}

    assert planned(raw) == {}
    edited = copy.deepcopy(raw)  # the checksum list is an input: a newer one is verified again
    (tmp_path / "vnc.sha256").write_text((REPO / raw["datasets"]["fly_vnc"]["sha256sums"]).read_text())
    edited["datasets"]["fly_vnc"]["sha256sums"] = str(tmp_path / "vnc.sha256")
    assert planned(edited) == {"download_dataset": 1}
    edited = copy.deepcopy(raw)  # the needed sections are a param: every 10th medulla section instead of every 5th
    edited["tasks"]["FlyMedulla-N"]["test"] = {"z": [200, 250, 10]}
    assert planned(edited) == {"download_dataset": 1}
