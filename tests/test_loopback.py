"""The loopback fixture itself: the test server and the fake public datasets in their real layouts."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pytest
import requests
import yaml

from vemtransfer.data.remote_zip import HttpZip

from loopback import (
    EMPIAR_DIR,
    EMPIAR_RAW_DIR,
    UROCELL_VOLUMES,
    ZIP_PADDING,
    ZIP_PADDING_BYTES,
    build_fake_datasets,
    fake_datasets_server,
)

FAST = {"backoff": 0, "timeout": 5}


@pytest.fixture
def loopback(tmp_path: Path):
    with fake_datasets_server(tmp_path) as (server, info):
        yield server, info


def _get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=5)


def _zipfile(url: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(_get(url).content))


def test_datasets_config_points_at_loopback_and_round_trips_yaml(loopback):
    server, info = loopback
    assert server.base_url.startswith("http://127.0.0.1:") and info["base_url"] == server.base_url
    datasets = info["datasets"]
    assert set(datasets) == {"snemi3d", "urocell", "empiar10791", "ratliver"}
    assert yaml.safe_load(yaml.safe_dump({"datasets": datasets})) == {"datasets": datasets}
    for rel, f in info["files"].items():
        assert f["url"].startswith(server.base_url + "/") and unquote(f["url"][len(server.base_url) + 1:]) == rel
        assert (info["root"] / rel).stat().st_size == f["size"]
    assert sum(f["size"] for f in info["files"].values()) < 5_000_000


def test_build_is_deterministic(tmp_path):
    a = build_fake_datasets(tmp_path / "a", "http://127.0.0.1:1")
    b = build_fake_datasets(tmp_path / "b", "http://127.0.0.1:2/")
    assert a["datasets"]["snemi3d"]["md5"] == b["datasets"]["snemi3d"]["md5"]
    same = {rel: f["md5"] for rel, f in a["files"].items() if not rel.startswith("api/")}
    assert same == {rel: f["md5"] for rel, f in b["files"].items() if not rel.startswith("api/")}
    assert b["datasets"]["urocell"]["base_url"] == "http://127.0.0.1:2/MancaZerovnikMekuc/UroCell/master"


# --- the server -----------------------------------------------------------------------------
def test_directory_index_lists_raw_folder(loopback):
    server, info = loopback
    src = info["datasets"]["empiar10791"]
    url = f"{src['base_url']}/{src['raw_dir']}/"
    assert url == info["empiar10791"]["raw_dir_url"] and "%20" in url and " " not in url
    resp = _get(url)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert resp.text.startswith("<html><body>")
    hrefs = re.findall(r'<a href="([^"]+)">([^<]+)</a>', resp.text)
    names = sorted(p.name for p in (info["root"] / EMPIAR_DIR / EMPIAR_RAW_DIR).iterdir())
    assert [h for h, _ in hrefs] == [quote(n) for n in names] and [t for _, t in hrefs] == names
    assert names == info["empiar10791"]["raw_files"]
    assert len(names) == len(info["empiar10791"]["z"]) + len(info["empiar10791"]["decoy_z"])
    parent = _get(src["base_url"] + "/").text  # folders carry a trailing slash, spaces quoted
    assert f'<a href="{quote(EMPIAR_RAW_DIR)}/">' in parent and "6461%20Lean%20Liver%20-%20Segmentation/" in parent
    assert requests.head(url, timeout=5).status_code == 200
    moved = requests.get(url.rstrip("/"), timeout=5, allow_redirects=False)  # as Apache: folder without slash
    assert moved.status_code == 301 and moved.headers["Location"].endswith("%20Raw/")
    assert _get(url.rstrip("/")).url == url


def test_range_on_path_with_spaces(loopback):
    server, info = loopback
    src = info["datasets"]["empiar10791"]
    z = info["empiar10791"]["z"][0]
    url = f"{src['base_url']}/{src['raw_dir']}/{src['raw_pattern'].format(z=z)}"
    assert url == info["empiar10791"]["raw_urls"][z]
    path = info["root"] / EMPIAR_DIR / EMPIAR_RAW_DIR / src["raw_pattern"].format(z=z)
    data = path.read_bytes()
    resp = _get(url, Range="bytes=10-99")
    assert resp.status_code == 206 and resp.content == data[10:100]
    assert resp.headers["Content-Range"] == f"bytes 10-99/{len(data)}"
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert _get(url, Range=f"bytes={len(data)}-").status_code == 416
    decoded = "/" + str(path.relative_to(info["root"]))
    assert server.behaviour.paths()[-2:] == [decoded, decoded]
    assert server.behaviour.sent(decoded) == 90 and server.behaviour.sent(quote(decoded)) == 90


def test_corrupt_not_found_and_content_types(loopback):
    server, info = loopback
    snemi = info["snemi3d"]
    path = "/records/7142003/files/snemi.zip"
    server.behaviour.corrupt[path] = b"not the zip at all"
    resp = _get(snemi["url"])
    assert resp.content == b"not the zip at all"
    assert hashlib.md5(resp.content).hexdigest() != info["datasets"]["snemi3d"]["md5"]
    assert _get(snemi["url"], Range="bytes=4-6").content == b"the"
    del server.behaviour.corrupt[path]
    assert hashlib.md5(_get(snemi["url"]).content).hexdigest() == info["datasets"]["snemi3d"]["md5"]
    raw = info["empiar10791"]["raw_urls"][1000]
    server.behaviour.not_found.add(unquote(raw[len(server.base_url):]))  # decoded form works too
    assert _get(raw).status_code == 404 and _get(info["empiar10791"]["raw_urls"][1005]).status_code == 200
    server.behaviour.content_types[path] = "application/zip"
    assert requests.head(snemi["url"], timeout=5).headers["Content-Type"] == "application/zip"
    assert _get(server.url("no/such/file")).status_code == 404
    assert _get(server.base_url + "/../../etc/passwd").status_code == 404
    assert _get(server.base_url + "/records/7142003/files/snemi.zip/").status_code == 404


def test_html_behaviour_still_wins(loopback):
    server, info = loopback
    server.behaviour.html = True
    assert "Please log in" in _get(info["datasets"]["snemi3d"]["url"]).text
    assert "Please log in" in _get(info["empiar10791"]["raw_dir_url"]).text


# --- the datasets ---------------------------------------------------------------------------
def test_snemi_zip(loopback):
    import tifffile

    _, info = loopback
    src, truth = info["datasets"]["snemi3d"], info["truth"]["snemi3d"]
    data = _get(src["url"]).content
    assert hashlib.md5(data).hexdigest() == src["md5"] and len(data) == info["snemi3d"]["size"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == info["snemi3d"]["names"] and "README.txt" in zf.namelist()
        image = tifffile.imread(io.BytesIO(zf.read(src["members"]["image"])))
        labels = tifffile.imread(io.BytesIO(zf.read(src["members"]["labels"])))
        with tifffile.TiffFile(io.BytesIO(zf.read(src["members"]["image"]))) as tif:
            assert len(tif.pages) == 100  # multi-page, one page per section
    assert image.shape == labels.shape == (100, 64, 64)
    assert image.dtype == np.uint8 and labels.dtype == np.uint32
    np.testing.assert_array_equal(image, truth["image"])
    np.testing.assert_array_equal(labels, truth["labels"])
    assert 20 <= len(np.unique(labels)) <= 60 and labels.min() > 0
    boundary = labels[:, 1:, :] != labels[:, :-1, :]
    assert 0.02 < boundary.mean() < 0.5
    assert image[:, 1:, :][boundary].mean() < image[:, 1:, :][~boundary].mean() - 30  # dark membranes


def test_urocell_nifti(loopback, tmp_path):
    import nibabel as nib

    _, info = loopback
    src = info["datasets"]["urocell"]
    assert src["volumes"] == UROCELL_VOLUMES
    for volume in src["volumes"]:
        truth = info["truth"]["urocell"][volume]
        for kind, pattern in [("image", src["image_pattern"]), ("mito", src["label_patterns"]["mito"])]:
            url = f"{src['base_url']}/{pattern.format(volume=volume)}"
            assert url == info["urocell"]["urls"][volume][kind]
            dest = tmp_path / f"{volume}-{kind}.nii.gz"
            dest.write_bytes(_get(url).content)
            arr = np.asarray(nib.load(dest).dataobj)
            assert arr.shape == (24, 32, 32)
            np.testing.assert_array_equal(arr, truth[kind])
            if kind == "mito":
                assert arr.dtype.kind == "f" and set(np.unique(arr)) == {0.0, 1.0}
    assert {str(v) for v in info["urocell"]["image_dtypes"].values()} == {"float32", "uint8"}


def test_empiar_zips_index_tiffs_by_z(loopback):
    import tifffile

    server, info = loopback
    src, details = info["datasets"]["empiar10791"], info["empiar10791"]
    truth = info["truth"]["empiar10791"]
    needed = details["z"]
    assert needed == [1000, 1005, 1010, 1015, 1020, 1025, 2000, 2005, 2010, 2015, 2020, 2025]
    assert set(src["label_zips"]) == {"mito", "er", "ld"}
    for label, rel in src["label_zips"].items():
        url = f"{src['base_url']}/{rel}"
        assert url == details["zips"][label]["url"] and "%20" in url
        with _zipfile(url) as zf:
            names = zf.namelist()
            assert sorted(names)[-1] == ZIP_PADDING and zf.getinfo(ZIP_PADDING).file_size == ZIP_PADDING_BYTES
            assert zf.getinfo(ZIP_PADDING).compress_type == zipfile.ZIP_STORED
            tiffs = sorted(n for n in names if n.endswith(".tiff"))
            assert len(tiffs) == 2100 and tiffs == details["zips"][label]["tiff_members"]
            for z in [*needed, 0, 1001, 2099]:
                mask = tifffile.imread(io.BytesIO(zf.read(tiffs[z])))
                assert int(re.search(r"(\d+)\.tiff$", tiffs[z])[1]) == z
                assert mask.shape == (48, 64) and mask.dtype == np.uint8
                if z in needed:
                    np.testing.assert_array_equal(mask, truth[label][z])
                    assert set(np.unique(mask)) == {0, 255}
                else:
                    assert not mask.any()
    assert tiffs[1000] == "LD/lipid_001000.tiff"  # the last one checked: LD
    for z in needed:
        image = tifffile.imread(io.BytesIO(_get(details["raw_urls"][z]).content))
        np.testing.assert_array_equal(image, truth["image"][z])
    assert set(truth["image"]) == set(needed)


def test_empiar_needed_members_cost_few_bytes(loopback):
    server, info = loopback
    zips, needed = info["empiar10791"]["zips"], info["empiar10791"]["z"]
    url = zips["mito"]["url"]
    with HttpZip(url, **FAST) as zf:
        tiffs = sorted(n for n in zf.names() if n.endswith(".tiff"))
        for z in needed:
            assert zf.read(tiffs[z])
    path = url[len(server.base_url):]
    sent = server.behaviour.sent(path)
    cd = zips["mito"]["central_directory_bytes"]
    assert 2100 * 46 < cd < sent < cd + 100_000  # the central directory (+ a tail read) and 12 small members
    assert sent < zips["mito"]["size"] // 4 and sent < ZIP_PADDING_BYTES // 2


def test_ratliver_zenodo_record(loopback):
    import cv2
    import tifffile

    server, info = loopback
    src, truth = info["datasets"]["ratliver"], info["truth"]["ratliver"]
    resp = _get(src["api_url"])
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert src["api_url"].endswith("/api/records/13357732")
    record = resp.json()
    assert record["id"] == 13357732
    files = {f["key"]: f for f in record["files"]}
    assert set(files) == {"EM20-324-200_series_processed.zip", "rat_mito_gt_exported.zip", "rat_liver_ER.zip",
                          "README.md"}
    blobs = {}
    for name, f in files.items():
        data = _get(f["links"]["self"]).content
        assert f["size"] == len(data) and f["checksum"] == "md5:" + hashlib.md5(data).hexdigest()
        blobs[name] = data
    z_lists = info["ratliver"]["z"]
    for kind, spec in [("image", src["image"]), ("mito", src["labels"]["mito"]), ("er", src["labels"]["er"])]:
        with zipfile.ZipFile(io.BytesIO(blobs[spec["file"]])) as zf:
            found = {int(m["z"]): n for n in zf.namelist() if (m := re.search(spec["member"], n))}
            assert sorted(found) == z_lists[kind] and set(truth[kind]) == set(found)
            for z, name in found.items():
                raw = zf.read(name)
                arr = (tifffile.imread(io.BytesIO(raw)) if kind == "image"
                       else cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED))
                assert arr.shape == (70, 70) and arr.dtype == np.uint8
                np.testing.assert_array_equal(arr, truth[kind][z])
    assert z_lists == {"image": list(range(60)), "mito": list(range(19, 55)), "er": list(range(18, 36))}
    with zipfile.ZipFile(io.BytesIO(blobs["rat_mito_gt_exported.zip"])) as zf:
        assert "rat_mito_gt_exported/Slice 54 (1).vsseg_export_s019.png" in zf.namelist()
    with zipfile.ZipFile(io.BytesIO(blobs["EM20-324-200_series_processed.zip"])) as zf:
        assert "EM20-324-200_series_processed/001____z0.0.tif" in zf.namelist()
