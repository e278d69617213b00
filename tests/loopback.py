"""Loopback test infrastructure: a misbehaving HTTP file server and tiny fake public datasets.

``FileServer`` serves a directory on 127.0.0.1 (a free port) with HEAD/GET, byte ranges, Apache-style
directory indexes and failure modes switched on through its ``Behaviour``. ``build_fake_datasets`` writes
scaled-down copies of the real public layouts (SNEMI3D, UroCell, EMPIAR-10791, rat liver Zenodo record)
under the server's root and returns a ``datasets:`` config pointing at the server plus the arrays written.
``fake_datasets_server`` does both; wrap it in a pytest fixture. Nothing here imports pytest.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import http.server
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import numpy as np

__all__ = [
    "Behaviour", "FileServer", "build_fake_datasets", "fake_datasets_server",
    "EMPIAR_DIR", "EMPIAR_RAW_DIR", "EMPIAR_SEG_DIR", "UROCELL_VOLUMES", "ZIP_PADDING", "ZIP_PADDING_BYTES",
]


# --- the server -----------------------------------------------------------------------------
@dataclass
class Behaviour:
    """How the test server misbehaves; tests flip these between requests.

    Paths in ``corrupt``, ``not_found`` and ``content_types`` are URL paths (no host, no query) and may be
    given quoted (``/a%20b.zip``) or not (``/a b.zip``).
    """

    ignore_range: bool = False  # answer 200 with the whole file even to a Range request
    fail_first: int = 0  # answer 503 to this many requests
    drop_after: int | None = None  # close the connection after this many body bytes ...
    drop_times: int = 1_000_000  # ... in this many responses
    html: bool = False  # answer every GET with an HTML page
    refuse_head: bool = False  # answer HEAD with 405, as some file hosts do
    corrupt: dict[str, bytes] = field(default_factory=dict)  # path -> bytes served instead of the file
    not_found: set[str] = field(default_factory=set)  # paths answered 404 even when the file exists
    content_types: dict[str, str] = field(default_factory=dict)  # path -> Content-Type (else see _ctype)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, raw path, Range)
    bytes_sent: dict[str, int] = field(default_factory=dict)  # decoded path -> body bytes written
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def gets(self) -> list[tuple[str, str, str | None]]:
        return [r for r in self.seen if r[0] == "GET"]

    def paths(self, method: str = "GET") -> list[str]:
        """URL-decoded paths (query dropped) of the requests with this method, in order."""
        return [unquote(urlsplit(p).path) for m, p, _ in self.seen if m == method]

    def sent(self, path: str) -> int:
        """Body bytes written so far for this path (quoted or not)."""
        return self.bytes_sent.get(unquote(path), 0)

    def _lookup(self, table: dict | set, path: str):
        for key in table:
            if unquote(key) == path:
                return (table[key] if isinstance(table, dict) else True)
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    """HEAD/GET of files under the server's root, with Range, directory indexes and the failure modes."""

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        if self.server.behaviour.refuse_head:  # type: ignore[attr-defined]
            return self._send(405, b"", "text/plain", body=False)
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        how: Behaviour = self.server.behaviour  # type: ignore[attr-defined]
        root: Path = self.server.root  # type: ignore[attr-defined]
        with how._lock:
            how.seen.append((self.command, self.path, self.headers.get("Range")))
            busy = how.fail_first > 0
            if busy:
                how.fail_first -= 1
        if busy:
            return self._send(503, b"busy", "text/plain", body)
        if how.html and body:
            return self._send(200, b"<html><body>Please log in</body></html>", "text/html; charset=utf-8", body)
        self._decoded = url_path = unquote(urlsplit(self.path).path)
        if how._lookup(how.not_found, url_path):
            return self._send(404, b"not found", "text/plain", body)
        data = how._lookup(how.corrupt, url_path)
        if data is None:
            path = (root / url_path.lstrip("/")).resolve()
            if path != root.resolve() and root.resolve() not in path.parents:
                return self._send(404, b"not found", "text/plain", body)
            if path.is_dir():
                if not url_path.endswith("/"):  # as Apache does
                    return self._send(301, b"", "text/plain", body, {"Location": quote(url_path) + "/"})
                return self._send(200, _index_page(path, url_path), "text/html; charset=utf-8", body)
            if url_path.endswith("/") or not path.is_file():
                return self._send(404, b"not found", "text/plain", body)
            data = path.read_bytes()
        ctype = how._lookup(how.content_types, url_path) or _ctype(url_path)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match is None or how.ignore_range:
            return self._send(200, data, ctype, body)
        start = int(match[1])
        end = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
        if start >= len(data):
            return self._send(416, b"", "text/plain", body, {"Content-Range": f"bytes */{len(data)}"})
        headers = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        self._send(206, data[start : end + 1], ctype, body, headers)

    def _send(self, code: int, data: bytes, ctype: str, body: bool, extra: dict | None = None) -> None:
        how: Behaviour = self.server.behaviour  # type: ignore[attr-defined]
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not body:
            return
        with how._lock:
            if how.drop_after is not None and how.drop_times > 0 and len(data) > how.drop_after:
                how.drop_times -= 1
                data = data[: how.drop_after]  # then HTTP/1.0 closes the connection: a cut transfer
            key = getattr(self, "_decoded", None) or unquote(urlsplit(self.path).path)
            how.bytes_sent[key] = how.bytes_sent.get(key, 0) + len(data)
        self.wfile.write(data)


def _ctype(url_path: str) -> str:
    return "application/json" if url_path.startswith("/api/") else "application/octet-stream"


def _index_page(folder: Path, url_path: str) -> bytes:
    """An Apache-style listing: one ``<a href="quoted">name</a>`` per entry, folders with a trailing slash."""
    rows = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        slash = "/" if entry.is_dir() else ""
        rows.append(f'<a href="{quote(entry.name)}{slash}">{html.escape(entry.name)}{slash}</a>')
    title = html.escape(f"Index of {url_path}")
    return (f"<html><body><h1>{title}</h1>\n<pre>\n" + "\n".join(rows) + "\n</pre>\n</body></html>\n").encode()


class FileServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving files from ``root``; also a context manager."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.behaviour = Behaviour()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.root = self.root  # type: ignore[attr-defined]
        self._httpd.behaviour = self.behaviour  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)  # quick shutdown
        self._thread.start()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, name: str, quoted: bool = False) -> str:
        """The URL of ``name`` (a path under root); ``quoted=True`` percent-encodes it (spaces -> %20)."""
        return f"{self.base_url}/{quote(name) if quoted else name}"

    def put(self, name: str, data: bytes) -> str:
        (self.root / name).parent.mkdir(parents=True, exist_ok=True)
        (self.root / name).write_bytes(data)
        return self.url(name)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def fake_datasets_server(tmp_path: Path) -> Iterator[tuple[FileServer, dict]]:
    """Serve ``tmp_path/www`` with the fake datasets built in it; yields (server, build_fake_datasets info)."""
    root = Path(tmp_path) / "www"
    root.mkdir(parents=True, exist_ok=True)
    with FileServer(root) as server:
        info = build_fake_datasets(root, server.base_url)
        yield server, info


# --- tiny datasets in the real layouts ------------------------------------------------------
UROCELL_VOLUMES = ["fib1-0-0-0", "fib1-1-0-3", "fib1-3-2-1", "fib1-3-3-0", "fib1-4-3-0"]
EMPIAR_DIR = (
    "empiar/world_availability/10791/data/"
    "Parlakgul et al - Regulation of liver subcellular architecture controls metabolic homeostasis/"
    "FIB-SEM Raw and Segmentation Data/6461 - Lean Liver"
)
EMPIAR_RAW_DIR = "6461 Lean Liver - Raw"
EMPIAR_SEG_DIR = "6461 Lean Liver - Segmentation"
ZIP_PADDING = "zz_padding.bin"  # the big incompressible last member of each EMPIAR zip ...
ZIP_PADDING_BYTES = 750_000  # ... random bytes, stored: reading the needed members must not fetch it
_EMPIAR_ZIPS = {  # label -> (zip name, member folder, member name pattern)
    "mito": ("6461 Lean Mitochondria.zip", "Mito_filled", "Mito_filled/{z:04d}.tiff"),
    "er": ("6461 Lean ER.zip", "ER", "ER/er_{z:06d}.tiff"),
    "ld": ("6461 Lean Lipid Droplet.zip", "LD", "LD/lipid_{z:06d}.tiff"),
}
_DATE = (2022, 10, 4, 12, 0, 0)  # fixed member timestamps: the zips (and their md5s) are reproducible


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _zip(members: list[tuple[str, bytes, int]]) -> bytes:
    """A zip of (name, data, compress_type); names ending in '/' become folder entries."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, how in members:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = how
            info.external_attr = (0o40755 << 16 | 0x10) if name.endswith("/") else 0o100644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _tiff(arr: np.ndarray) -> bytes:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, photometric="minisblack")
    return buf.getvalue()


def _png(arr: np.ndarray) -> bytes:
    import cv2

    ok, enc = cv2.imencode(".png", arr)
    assert ok
    return enc.tobytes()


def _blobs(rng: np.random.Generator, shape: tuple[int, ...], count: int, radius: tuple[float, float]) -> np.ndarray:
    """A bool mask of ``count`` random balls (2D discs or 3D balls) with radii in ``radius``."""
    grid = np.indices(shape, dtype=np.float32)
    mask = np.zeros(shape, bool)
    for _ in range(count):
        centre = [rng.uniform(0, s) for s in shape]
        r = rng.uniform(*radius)
        dist2 = sum((g - c) ** 2 for g, c in zip(grid, centre))
        mask |= dist2 <= r * r
    return mask


def _em(rng: np.random.Generator, shape: tuple[int, ...], dark: np.ndarray | None = None) -> np.ndarray:
    """EM-looking uint8 noise, darker inside ``dark``."""
    img = rng.normal(160, 20, shape)
    if dark is not None:
        img[dark] -= 70
    return np.clip(img, 0, 255).astype(np.uint8)


def _write(root: Path, rel: str, data: bytes, base_url: str, files: dict) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    url = f"{base_url}/{quote(rel)}"
    files[rel] = {"url": url, "size": len(data), "md5": _md5(data)}
    return url


def _snemi(rng, root: Path, base_url: str, files: dict) -> tuple[dict, dict, dict]:
    from scipy import ndimage

    shape = (100, 64, 64)
    seeds = np.zeros(shape, bool)
    count = 40
    seeds[rng.integers(0, shape[0], count), rng.integers(0, shape[1], count), rng.integers(0, shape[2], count)] = True
    n = int(seeds.sum())
    ids = np.zeros(shape, np.uint32)
    ids[seeds] = rng.permutation(np.arange(1, 5000, dtype=np.uint32))[:n]  # shuffled, non-consecutive ids
    # nearest seed with z stretched as the 30 nm sections are against 6 nm pixels: Voronoi "neurites"
    idx = ndimage.distance_transform_edt(~seeds, sampling=(5, 1, 1), return_distances=False, return_indices=True)
    labels = ids[tuple(idx)]
    boundary = np.zeros(shape, bool)
    boundary[:, 1:, :] |= labels[:, 1:, :] != labels[:, :-1, :]
    boundary[:, :, 1:] |= labels[:, :, 1:] != labels[:, :, :-1]
    image = _em(rng, shape, boundary)
    members = {"image": "image/train-input.tif", "labels": "seg/train-labels.tif"}
    data = _zip([
        ("image/", b"", zipfile.ZIP_STORED),
        (members["image"], _tiff(image), zipfile.ZIP_DEFLATED),
        ("seg/", b"", zipfile.ZIP_STORED),
        (members["labels"], _tiff(labels), zipfile.ZIP_DEFLATED),
        ("README.txt", b"SNEMI3D training volume (fake, scaled down for tests)\n", zipfile.ZIP_DEFLATED),
    ])
    url = _write(root, "records/7142003/files/snemi.zip", data, base_url, files)
    dataset = {"kind": "zenodo_file", "url": url, "md5": _md5(data), "members": members, "voxel_nm": [30, 6, 6]}
    extra = {"url": url, "md5": _md5(data), "size": len(data), "members": members,
             "names": ["image/", members["image"], "seg/", members["labels"], "README.txt"]}
    return dataset, {"image": image, "labels": labels}, extra


def _urocell(rng, root: Path, base_url: str, files: dict) -> tuple[dict, dict, dict]:
    import nibabel as nib

    shape = (24, 32, 32)
    repo = "MancaZerovnikMekuc/UroCell/master"
    truth, urls, dtypes = {}, {}, {}
    for i, volume in enumerate(UROCELL_VOLUMES):
        mito = _blobs(rng, shape, 4, (3, 6))
        image = _em(rng, shape, mito)
        # The image is stored as uint8 except in the first volume (float32 holding uint8 values);
        # the labels are float 0/1 as in the real repository.
        stored = image.astype(np.float32) if i == 0 else image
        dtypes[volume] = str(stored.dtype)
        urls[volume] = {}
        for kind, arr, rel in [("image", stored, f"data/{volume}.nii.gz"),
                               ("mito", mito.astype(np.float32), f"mito/binary/{volume}.nii.gz")]:
            path = root / repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(arr, np.eye(4)), str(path))
            data = path.read_bytes()
            urls[volume][kind] = f"{base_url}/{repo}/{rel}"
            files[f"{repo}/{rel}"] = {"url": urls[volume][kind], "size": len(data), "md5": _md5(data)}
        truth[volume] = {"image": image, "mito": mito.astype(np.uint8)}
    dataset = {"kind": "http_files", "base_url": f"{base_url}/{repo}", "volumes": list(UROCELL_VOLUMES),
              "image_pattern": "data/{volume}.nii.gz", "label_patterns": {"mito": "mito/binary/{volume}.nii.gz"},
              "voxel_nm": [15, 16, 16]}
    return dataset, truth, {"volumes": list(UROCELL_VOLUMES), "urls": urls, "image_dtypes": dtypes, "shape": shape}


def _empiar(rng, root: Path, base_url: str, files: dict) -> tuple[dict, dict, dict]:
    yx = (48, 64)
    needed = [1000 + 5 * i for i in range(6)] + [2000 + 5 * i for i in range(6)]
    decoys = [1001, 1002, 2001]
    n_members = 2100
    truth: dict = {"image": {}, "mito": {}, "er": {}, "ld": {}}
    for z in needed:
        truth["mito"][z] = np.where(_blobs(rng, yx, 3, (4, 8)), 255, 0).astype(np.uint8)
        er = np.zeros(yx, bool)
        for row in rng.choice(yx[0], 3, replace=False):  # thin sheets cut across: short lines
            start = int(rng.integers(0, yx[1] // 2))
            er[row, start : start + int(rng.integers(10, yx[1] // 2))] = True
        truth["er"][z] = np.where(er & (truth["mito"][z] == 0), 255, 0).astype(np.uint8)
        truth["ld"][z] = np.where(_blobs(rng, yx, 1, (3, 6)), 255, 0).astype(np.uint8)
    raw_urls = {}
    for z in sorted(needed + decoys):
        dark = truth["mito"][z] > 0 if z in truth["mito"] else None
        image = _em(rng, yx, dark)
        if z in needed:
            truth["image"][z] = image
        rel = f"{EMPIAR_DIR}/{EMPIAR_RAW_DIR}/Gunes_WT1_8x8x8nm_3MHz.{z:04d}.tif"
        raw_urls[z] = _write(root, rel, _tiff(image), base_url, files)
    zero = _tiff(np.zeros(yx, np.uint8))
    zips, label_zips = {}, {}
    for label, (zip_name, folder, pattern) in _EMPIAR_ZIPS.items():
        members = [(f"{folder}/", b"", zipfile.ZIP_STORED)]
        names = []
        for z in range(n_members):
            names.append(pattern.format(z=z))
            data = _tiff(truth[label][z]) if z in needed else zero
            members.append((names[-1], data, zipfile.ZIP_DEFLATED))
        members.append((ZIP_PADDING, rng.bytes(ZIP_PADDING_BYTES), zipfile.ZIP_STORED))
        rel = f"{EMPIAR_SEG_DIR}/{zip_name}"
        data = _zip(members)
        url = _write(root, f"{EMPIAR_DIR}/{rel}", data, base_url, files)
        label_zips[label] = quote(rel)
        zips[label] = {"url": url, "size": len(data), "tiff_members": names, "names": [m[0] for m in members],
                       "central_directory_bytes": int.from_bytes(data[-10:-6], "little")}  # EOCD: no comment
    dataset = {"kind": "empiar_slices", "base_url": f"{base_url}/{quote(EMPIAR_DIR)}", "raw_dir": quote(EMPIAR_RAW_DIR),
              "raw_pattern": "Gunes_WT1_8x8x8nm_3MHz.{z:04d}.tif", "label_zips": label_zips, "voxel_nm": [8, 8, 8]}
    extra = {"z": needed, "decoy_z": decoys, "raw_urls": raw_urls, "zips": zips, "yx": yx,
             "raw_dir_url": f"{base_url}/{quote(EMPIAR_DIR)}/{quote(EMPIAR_RAW_DIR)}/",
             "raw_files": [f"Gunes_WT1_8x8x8nm_3MHz.{z:04d}.tif" for z in sorted(needed + decoys)]}
    return dataset, truth, extra


def _ratliver(rng, root: Path, base_url: str, files: dict) -> tuple[dict, dict, dict]:
    yx = (70, 70)
    record = "13357732"
    image_z, mito_z, er_z = list(range(60)), list(range(19, 55)), list(range(18, 36))
    truth: dict = {"image": {}, "mito": {}, "er": {}}
    for z in mito_z:
        truth["mito"][z] = np.where(_blobs(rng, yx, 3, (5, 10)), 255, 0).astype(np.uint8)
    for z in er_z:
        er = _blobs(rng, yx, 6, (1, 2.5))
        truth["er"][z] = np.where(er, 255, 0).astype(np.uint8)
    for z in image_z:
        truth["image"][z] = _em(rng, yx, truth["mito"][z] > 0 if z in truth["mito"] else None)
    folder = "EM20-324-200_series_processed"
    zips = {
        f"{folder}.zip": [(f"{folder}/", b"", zipfile.ZIP_STORED)] + [
            (f"{folder}/{z + 1:03d}____z{z}.0.tif", _tiff(truth["image"][z]), zipfile.ZIP_DEFLATED) for z in image_z],
        "rat_mito_gt_exported.zip": [("rat_mito_gt_exported/", b"", zipfile.ZIP_STORED)] + [
            (f"rat_mito_gt_exported/Slice 54 (1).vsseg_export_s{z:03d}.png", _png(truth["mito"][z]),
             zipfile.ZIP_DEFLATED) for z in mito_z],
        "rat_liver_ER.zip": [("rat_liver_ER/", b"", zipfile.ZIP_STORED)] + [
            (f"rat_liver_ER/Slice 3-4 + 18-35 (Updated).vsseg_export_s{z:03d}.png", _png(truth["er"][z]),
             zipfile.ZIP_DEFLATED) for z in er_z],
    }
    record_files = {}
    for name, members in zips.items():
        data = _zip(members)
        record_files[name] = {"url": _write(root, f"records/{record}/files/{name}", data, base_url, files),
                              "size": len(data), "md5": _md5(data), "names": [m[0] for m in members]}
    readme = b"# Rat liver FIB-SEM (fake)\nSections at 50 nm, 8 nm pixels.\n"
    record_files["README.md"] = {"url": _write(root, f"records/{record}/files/README.md", readme, base_url, files),
                                 "size": len(readme), "md5": _md5(readme), "names": []}
    api = {"id": int(record), "files": [
        {"key": name, "size": f["size"], "checksum": f"md5:{f['md5']}", "links": {"self": f["url"]}}
        for name, f in record_files.items()]}
    api_url = _write(root, f"api/records/{record}", json.dumps(api, indent=1).encode(), base_url, files)
    dataset = {"kind": "zenodo_record", "api_url": api_url,
              "image": {"file": f"{folder}.zip", "member": r"____z(?P<z>\d+)\.0\.tif$"},
              "labels": {"mito": {"file": "rat_mito_gt_exported.zip", "member": r"vsseg_export_s(?P<z>\d{3})\.png$"},
                         "er": {"file": "rat_liver_ER.zip", "member": r"vsseg_export_s(?P<z>\d{3})\.png$"}},
              "voxel_nm": [50, 8, 8]}
    extra = {"api_url": api_url, "api": api, "files": record_files, "yx": yx,
             "z": {"image": image_z, "mito": mito_z, "er": er_z}}
    return dataset, truth, extra


def build_fake_datasets(root: Path, base_url: str) -> dict:
    """Write the four fake public datasets under ``root`` (served at ``base_url``); deterministic.

    Returns a dict with
      ``datasets``: the YAML-able ``datasets:`` config (snemi3d, urocell, empiar10791, ratliver) pointing at base_url;
      ``truth``: the arrays written, per dataset:
        snemi3d {image (100,64,64) uint8, labels (100,64,64) uint32},
        urocell {volume: {image (24,32,32) uint8, mito uint8 0/1}},
        empiar10791 {image|mito|er|ld: {z: (48,64) uint8}} (masks 0/255; only the needed z),
        ratliver {image|mito|er: {z: (70,70) uint8}} (masks 0/255);
      ``snemi3d``, ``urocell``, ``empiar10791``, ``ratliver``: per-dataset details (urls, member names, sizes,
        md5s, the needed ``z`` and ``decoy_z`` for EMPIAR, the Zenodo ``api`` JSON for the rat liver);
      ``files``: {path relative to root: {url, size, md5}} for every file written; ``root``, ``base_url``.
    """
    root = Path(root)
    base_url = base_url.rstrip("/")
    rng = np.random.default_rng(0)
    files: dict = {}
    info: dict = {"root": root, "base_url": base_url, "datasets": {}, "truth": {}, "files": files}
    for name, build in [("snemi3d", _snemi), ("urocell", _urocell), ("empiar10791", _empiar), ("ratliver", _ratliver)]:
        dataset, truth, extra = build(rng, root, base_url, files)
        info["datasets"][name] = dataset
        info["truth"][name] = truth
        info[name] = extra
    return info
