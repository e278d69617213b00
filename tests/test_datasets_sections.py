"""The ``section_files`` dataset kind against tiny files on a loopback server.

Two datasets in the layouts of the mini config's real data: per-section TIFF images with
per-section mask PNGs, some 1-bit and some 8-bit with stray grey values (the Drosophila VNC),
and PNG slices numbered from an offset with a gzipped HDF5 of supervoxel ids plus a
supervoxel -> body table (the FlyEM medulla). Every file is pinned by a sha256sum file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from vemtransfer.config import ConfigError, validate_config
from vemtransfer.data.datasets.common import binarise_mask, png_bit_depth
from vemtransfer.data.datasets.section_files import read_sha256sums
from vemtransfer.data.datasets.store import SectionStore
from vemtransfer.data.download import DownloadError

import job_helpers as jobs
from loopback import FileServer

SHAPE = (12, 16)
N = 6
OFFSET = 100
ONE_BIT = {1, 4}  # sections whose mask PNG is 1-bit; the others are 8-bit with stray values


def _png_1bit(mask: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(mask.astype(bool)).save(buf, format="PNG")
    return buf.getvalue()


def _png(array: np.ndarray) -> bytes:
    ok, enc = cv2.imencode(".png", array)
    assert ok
    return enc.tobytes()


def _tiff_big_endian(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, byteorder=">", imagej=True)
    return buf.getvalue()


def _h5_gz(stack: np.ndarray, table: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5["stack"], h5["transforms"] = stack, table
    return gzip.compress(buf.getvalue())


class Site:
    """The two tiny datasets written under ``root`` (served by ``server``) and what they hold."""

    def __init__(self, root: Path, server: FileServer) -> None:
        rng = np.random.default_rng(3)
        self.root, self.server = root, server
        self.images = rng.integers(0, 256, (N, *SHAPE), dtype=np.uint8)
        self.masks = rng.random((N, *SHAPE)) < 0.3
        self.files: dict[str, bytes] = {}
        for z in range(N):
            self.files[f"lab/raw/{z:02d}.tif"] = _tiff_big_endian(self.images[z])
            if z in ONE_BIT:
                self.files[f"lab/mito/{z:02d}.png"] = _png_1bit(self.masks[z])
                continue
            grey = np.where(self.masks[z], 255, 0).astype(np.uint8)
            grey[0, :2] = (200, 5)  # stray values, one on each side of 128
            self.masks[z, 0, :2] = (True, False)
            self.files[f"lab/mito/{z:02d}.png"] = _png(grey)
        self.supervoxels = rng.integers(0, 40, (N, *SHAPE)).astype(np.int32)
        self.table = np.stack([np.arange(40), 1000 + np.arange(40) // 3], axis=1).astype(np.int64)
        for z in range(N):
            self.files[f"med/iso.{OFFSET + z}.png"] = _png(self.images[z])
        self.files["med/gt.h5.gz"] = _h5_gz(self.supervoxels, self.table)
        for rel, data in self.files.items():
            server.put(rel, data)
        self.sums = {rel: hashlib.sha256(data).hexdigest() for rel, data in self.files.items()}

    def sha256sums(self, drop: str | None = None, prefix: str = "") -> str:
        """A sha256sum file of the files under ``prefix`` (paths relative to it), without ``drop``."""
        path = self.root.parent / f"{prefix.strip('/') or 'all'}.sha256"
        lines = [f"{h}  ./{rel[len(prefix):]}\n" for rel, h in self.sums.items() if rel.startswith(prefix) and rel != drop]
        path.write_text("# pinned\n" + "".join(lines))
        return str(path)

    def config(self, tmp: Path, **datasets_extra: dict) -> dict:
        lab = {"kind": "section_files", "base_url": self.server.base_url, "sha256sums": self.sha256sums(), "sections": [0, N],
               "image": {"pattern": "lab/raw/{z:02d}.tif"}, "labels": {"mito": {"pattern": "lab/mito/{z:02d}.png", "threshold": 128}},
               "voxel_nm": [50, 4.6, 4.6]}
        med = {"kind": "section_files", "base_url": f"{self.server.base_url}/med/", "sha256sums": self.sha256sums(prefix="med/"),
               "sections": [0, N], "image": {"pattern": "iso.{z}.png", "z_offset": OFFSET},
               "labels": {"neurite": {"file": "gt.h5.gz", "dataset": "stack", "lookup": "transforms"}}, "voxel_nm": [10, 10, 10]}
        return {
            "results_dir": str(tmp / "results"), "resources_dir": str(tmp / "resources"), "logs_dir": str(tmp / "logs"),
            "datasets": {"lab": lab | datasets_extra.get("lab", {}), "med": med | datasets_extra.get("med", {})},
            "tasks": {"Lab-M": {"dataset": "lab", "label": "mito", "train": {"z": [1, 3]}, "test": {"z": [4, 5]}},
                      "Med-N": {"dataset": "med", "label": "neurite", "train": {"z": [0, 6, 2]}, "test": {"z": [5, 6]},
                                "preprocess": {"label_rule": "neurite_interior"}}},
            "experiment": {"sources": ["Med-N"], "targets": ["Lab-M"]},
        }


@pytest.fixture
def site(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    with FileServer(root) as server:
        yield Site(root, server)


def _fetch(raw: dict, dataset: str) -> list[dict]:
    return jobs.download(raw, dataset)


def _store(raw: dict, dataset: str) -> SectionStore:
    return SectionStore(Path(raw["resources_dir"]) / "raw" / dataset)


def test_series_fetches_only_the_needed_sections_verified_and_binarised(site, tmp_path):
    raw = site.config(tmp_path)
    records = _fetch(raw, "lab")
    needed = [1, 2, 4]
    fetched = {p.lstrip("/") for p in site.server.behaviour.paths()}
    assert fetched == {f"lab/{kind}/{z:02d}.{ext}" for z in needed for kind, ext in (("raw", "tif"), ("mito", "png"))}
    assert {r["url"] for r in records} == {f"{site.server.base_url}/{f}" for f in fetched}
    assert all(r["sha256"] == site.sums[r["url"].split("/", 3)[3]] for r in records)
    manifest = json.loads((Path(raw["resources_dir"]) / "raw" / "lab" / "manifest.json").read_text())
    assert manifest == records and all(set(r) >= {"url", "size", "sha256"} for r in manifest)
    store = _store(raw, "lab")
    assert store.indices("main") == needed and store.labels() == ("mito",)
    for z in needed:  # big-endian TIFFs read back as native uint8; masks 0/1, 1-bit as-is, 8-bit >= 128
        assert store.image("main", z).dtype == np.uint8 and np.array_equal(store.image("main", z), site.images[z])
        assert np.array_equal(store.label("mito", "main", z), site.masks[z].astype(np.uint8)), z
    assert not (Path(raw["resources_dir"]) / "raw" / "lab" / "downloads").exists()


def test_png_bit_depth_decides_how_masks_are_binarised():
    mask = np.zeros(SHAPE, bool)
    mask[2:5, 3:9] = True
    one_bit = _png_1bit(mask)
    assert png_bit_depth(one_bit) == 1 and png_bit_depth(_png(mask.astype(np.uint8))) == 8
    assert png_bit_depth(b"II*\0") is None
    as_pil = np.asarray(Image.open(io.BytesIO(one_bit)), np.uint8)  # 0/1, below any 8-bit threshold
    as_cv2 = cv2.imdecode(np.frombuffer(one_bit, np.uint8), cv2.IMREAD_UNCHANGED)  # 0/255
    for decoded in (as_pil, as_cv2):
        assert np.array_equal(binarise_mask(decoded, one_bit, 128), mask)
    grey = np.array([[0, 5, 127, 128, 200, 255]], np.uint8)
    assert binarise_mask(grey, _png(grey), 128).tolist() == [[0, 0, 0, 1, 1, 1]]


def test_label_volume_maps_supervoxels_to_bodies_per_section(site, tmp_path):
    raw = site.config(tmp_path)
    records = _fetch(raw, "med")
    fetched = [p for p in site.server.behaviour.paths()]
    assert sorted(fetched) == sorted(["/med/gt.h5.gz"] + [f"/med/iso.{OFFSET + z}.png" for z in (0, 2, 4, 5)])
    store = _store(raw, "med")
    lut = dict(site.table.tolist())
    for z in (0, 2, 4, 5):  # image z is iso.{100 + z}.png, labels are stack[z]
        assert np.array_equal(store.image("main", z), site.images[z])
        bodies = store.label("neurite", "main", z)
        assert bodies.dtype == np.uint32 and np.array_equal(bodies, np.vectorize(lut.get)(site.supervoxels[z]))
    volume = [r for r in records if r["url"].endswith("gt.h5.gz")]
    assert volume == [{"url": f"{site.server.base_url}/med/gt.h5.gz", "size": len(site.files["med/gt.h5.gz"]),
                       "sha256": site.sums["med/gt.h5.gz"], "kind": "neurite", "sections": 4}]
    assert not list((Path(raw["resources_dir"]) / "raw" / "med").glob("**/*.h5*"))  # nor the decompressed copy


def test_checksum_mismatch_names_the_url_and_leaves_no_manifest(site, tmp_path):
    raw = site.config(tmp_path)
    site.server.behaviour.corrupt = {"/lab/mito/02.png": site.files["lab/mito/02.png"][:-1] + b"\0"}
    with pytest.raises(DownloadError, match=r"/lab/mito/02\.png: downloaded file fails verification: sha256 expected"):
        _fetch(raw, "lab")
    manifest = Path(raw["resources_dir"]) / "raw" / "lab" / "manifest.json"
    assert not manifest.exists()
    site.server.behaviour.corrupt = {}
    _fetch(raw, "lab")
    assert manifest.exists()


def test_a_needed_file_without_a_checksum_fails_before_any_download(site, tmp_path):
    raw = site.config(tmp_path)
    raw["datasets"]["lab"]["sha256sums"] = site.sha256sums(drop="lab/raw/04.tif")
    with pytest.raises(ValueError, match=r"has no sha256 for 1 needed file\(s\), e.g. \['lab/raw/04.tif'\]"):
        _fetch(raw, "lab")
    assert site.server.behaviour.seen == []
    raw["datasets"]["lab"]["sha256sums"] = str(tmp_path / "absent.sha256")
    with pytest.raises(FileNotFoundError, match="absent.sha256 not found"):
        _fetch(raw, "lab")
    (tmp_path / "bad.sha256").write_text("1234  lab/raw/01.tif\n")
    raw["datasets"]["lab"]["sha256sums"] = str(tmp_path / "bad.sha256")
    with pytest.raises(ValueError, match=r"bad.sha256:1: not a sha256sum line"):
        _fetch(raw, "lab")


def test_label_image_of_the_wrong_shape_is_an_error(site, tmp_path):
    data = _png(np.zeros((SHAPE[0], SHAPE[1] + 1), np.uint8))
    site.server.put("lab/mito/02.png", data)
    site.sums["lab/mito/02.png"] = hashlib.sha256(data).hexdigest()
    raw = site.config(tmp_path)
    with pytest.raises(ValueError, match=r"/lab/mito/02\.png: mito label image has shape \(12, 17\), image section 2 has \(12, 16\)"):
        _fetch(raw, "lab")


def test_volume_ids_missing_from_the_lookup_and_bad_specs_are_errors(site, tmp_path):
    data = _h5_gz(site.supervoxels, site.table[site.table[:, 0] != 7])
    site.server.put("med/gt.h5.gz", data)
    site.sums["med/gt.h5.gz"] = hashlib.sha256(data).hexdigest()
    raw = site.config(tmp_path)
    with pytest.raises(ValueError, match=r"gt\.h5\.gz: section 0 has ids \[7\] missing from the lookup table"):
        _fetch(raw, "med")
    raw["tasks"]["Med-N"]["train"]["z"] = [0, 8]
    with pytest.raises(ValueError, match=r"tasks\.Med-N\.train\.z: \[0, 8\] lies outside the 6 sections of dataset med"):
        _fetch(raw, "med")
    raw = site.config(tmp_path, med={"labels": {"neurite": {"file": "gt.h5.gz", "pattern": "x{z}.png", "dataset": "stack"}}})
    with pytest.raises(ConfigError, match="datasets.med.labels.neurite"):
        validate_config(raw)
    raw = site.config(tmp_path, lab={"image": {"pattern": "lab/raw/00.tif"}})
    with pytest.raises(ConfigError, match="datasets.lab.image.pattern"):
        validate_config(raw)
    assert read_sha256sums(site.sha256sums())["lab/raw/00.tif"] == site.sums["lab/raw/00.tif"]


def test_a_plain_hdf5_volume_without_lookup_stores_its_ids_and_a_non_hdf5_file_is_an_error(site, tmp_path):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5["labels"] = site.supervoxels.astype(np.uint16)
    for name, data in (("med/ids.h5", buf.getvalue()), ("med/junk.h5", b"not hdf5")):
        site.server.put(name, data)
        site.sums[name] = hashlib.sha256(data).hexdigest()
    raw = site.config(tmp_path, med={"labels": {"neurite": {"file": "ids.h5", "dataset": "labels"}}})
    _fetch(raw, "med")
    assert np.array_equal(_store(raw, "med").label("neurite", "main", 4), site.supervoxels[4])
    raw = site.config(tmp_path / "junk", med={"labels": {"neurite": {"file": "junk.h5", "dataset": "labels"}}})
    with pytest.raises(ValueError, match=r"/med/junk\.h5: not an HDF5 file"):
        _fetch(raw, "med")
