import numpy as np
import pytest

from vemtransfer.core.storage import atomic_path, write_json, write_npy


def test_failed_write_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "sub" / "out.npy"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("disk full")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_failed_rewrite_keeps_the_old_file(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"a": 1})
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            tmp.write_text("{")
            raise OSError("killed")
    assert target.read_text().strip().startswith("{\n")
    assert len(list(tmp_path.iterdir())) == 1


def test_npy_roundtrip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_npy(tmp_path / "a.npy", a)
    assert np.array_equal(np.load(tmp_path / "a.npy", mmap_mode="r"), a)


def test_written_files_get_normal_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        write_json(tmp_path / "p.json", {})
    finally:
        os.umask(umask)
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o644
