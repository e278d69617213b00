"""The package's shape: layers that import only downwards, and no import cycle anywhere.

The layers contract lives in ``pyproject.toml`` (``[tool.importlinter]``); grimp builds the
import graph import-linter checks, lazy imports inside functions included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "vemtransfer"


def test_layers_contract_holds():
    """``lint-imports`` (import-linter) keeps the layers contract: a new upward import fails here."""
    out = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout


def _cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One import cycle among the package's modules (parent packages' ``__init__`` count as modules), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph.modules):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycle():
    graph = grimp.build_graph("vemtransfer", cache_dir=None)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    """The cycle search itself can fail: a two-module package importing each other is reported."""
    pkg = tmp_path / "cyclic_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from cyclic_pkg import b\n")
    (pkg / "b.py").write_text("import cyclic_pkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = _cycle(grimp.build_graph("cyclic_pkg", cache_dir=None))
    assert found is not None and set(found) == {"cyclic_pkg.a", "cyclic_pkg.b"}


def test_few_top_level_modules():
    """The package root holds subpackages, its ``__init__`` and the CLI; new modules go into a layer."""
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert modules == ["__init__.py", "cli.py"], modules


@pytest.mark.parametrize("layer", [p.name for p in sorted(PACKAGE.iterdir()) if (p / "__init__.py").is_file()])
def test_every_layer_says_what_it_owns(layer):
    doc = (PACKAGE / layer / "__init__.py").read_text().lstrip()
    assert doc.startswith('"""') and len(doc.split('"""')[1]) > 40, f"{layer}/__init__.py needs a docstring saying what the layer owns"


def test_architecture_page_shows_the_contract():
    """docs/architecture.md draws the layers in the contract's order (top of the page = lowest layer)."""
    import tomllib

    contract = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    page = (REPO / "docs" / "architecture.md").read_text()
    diagram = page.split("```\n", 2)[1].split("```")[0]
    drawn = [line.split()[0] for line in diagram.splitlines() if line and not line.lstrip().startswith("↓")]
    assert drawn == contract[::-1]


def test_architecture_page_names_every_module():
    """Each layer's line on docs/architecture.md names every module of the layer (jobs: one per stage, not listed)."""
    import re

    page = (REPO / "docs" / "architecture.md").read_text().split("```\n", 2)[1].split("```")[0]
    lines = {line.split()[0]: set(re.findall(r"[a-z_0-9]+", line)) for line in page.splitlines() if line and not line.lstrip().startswith("↓")}
    for layer, words in lines.items():
        if layer in ("jobs", "cli"):
            continue
        modules = {p.stem for p in (PACKAGE / layer).glob("*.py") if p.stem != "__init__"}
        modules |= {p.name for p in (PACKAGE / layer).iterdir() if (p / "__init__.py").is_file()}
        assert modules <= words, f"docs/architecture.md, layer {layer}: add {sorted(modules - words)}"
