"""The documentation: the generated config reference is current, the site builds strictly, the
README stays a front page, and no relative link in README.md or docs/ points at a missing file."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", t)]


def test_config_reference_is_current():
    """docs/config-reference.md is what scripts/config_reference.py writes from the schema."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or result.stdout


def test_config_reference_check_fails_when_stale(tmp_path):
    """--check exits non-zero on a file that differs from the generated one."""
    stale = tmp_path / "config-reference.md"
    stale.write_text((ROOT / "docs" / "config-reference.md").read_text() + "\nedited by hand\n")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check", "--out", str(stale)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "stale" in result.stderr


def test_config_reference_lists_every_schema_key():
    """Every property name of the schema (top level and nested) appears as a documented key."""
    import yaml

    from vemtransfer.config import SCHEMA_PATH

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(k for k, v in props.items() if not (isinstance(v, dict) and set(v) == {"const"}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    text = (ROOT / "docs" / "config-reference.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)`", text, re.M)) | set(re.findall(r"^## `([^`]+)`", text, re.M))
    leaves = {key.rsplit(".", 1)[-1].removesuffix("[]") for key in documented}
    missing = sorted(n for n in names if n not in leaves)
    assert not missing, f"schema keys missing from docs/config-reference.md: {missing}"


def test_mkdocs_build_strict(tmp_path):
    """The site builds with --strict: no broken page link, anchor, nav entry or include."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed: pip install -c constraints.txt -e '.[docs]'")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]


def test_readme_is_a_front_page():
    """README.md stays a front page: at most 150 lines and 12 KB; the rest belongs in docs/."""
    data = (ROOT / "README.md").read_bytes()
    lines = data.count(b"\n")
    assert lines <= 150, f"README.md has {lines} lines (max 150)"
    assert len(data) <= 12 * 1024, f"README.md is {len(data)} bytes (max {12 * 1024})"


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_exist(path):
    """Every relative link of README.md and docs/*.md names a file of the repository."""
    missing = []
    for target in _relative_links(path):
        file = unquote(target.split("#", 1)[0])
        if file and not (path.parent / file).exists():
            missing.append(target)
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"
