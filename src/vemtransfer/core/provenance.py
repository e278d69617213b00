"""Where a result came from: the code version, the config a job read, and the code it ran.

Snakemake reruns a job when its ``params`` change. The workflow gives every job two of them
(see ``workflow/rules/common.smk``): ``config``, the part of the config the job reads
(:func:`vemtransfer.config.job_config`), and ``code``, :func:`code_digest` of the package
modules its script imports. Editing ``train.lr`` or ``loss.py`` therefore reruns training
and what depends on it, and nothing else; ``--rerun-triggers mtime`` opts out. The digests
are also written into models and metrics, so a number names the code and config behind it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE = PACKAGE_DIR.name
SCHEDULER_ONLY = frozenset({"config.checks", "config.validation", "config.recipe", "data.file_checks"})
"""Modules that run when a config is validated (before Snakemake schedules anything), never in a
job: what they decide reaches a job through its ``config`` param, which is compared anyway."""


def git_commit(where: str | Path = PACKAGE_DIR) -> str | None:
    """The commit of the code that produced a result, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def config_hash(config: Mapping[str, Any]) -> str:
    """Short, key-order independent hash of a (job) config."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _module_file(name: str) -> Path | None:
    """The source file of package module ``name`` (dotted), or None if it is not one of ours."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    if name.split(".", 1)[-1] in SCHEDULER_ONLY:
        return None
    path = PACKAGE_DIR.joinpath(*name.split(".")[1:])
    if path.is_dir():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _imports(tree: ast.AST, module: str) -> Iterable[str]:
    """Every module an AST imports (inside functions too: lazy imports are code the job runs)."""
    package = module.rsplit(".", 1)[0] if module else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)  # `from pkg import module`


def _parsed(path: Path) -> str:
    """The AST dump of a file: comments and formatting do not change it, code and docstrings do."""
    return _dump(path.read_text())


@lru_cache(maxsize=None)
def _tree(source: str) -> ast.Module:
    """Parsed once per content: every rule of a workflow walks and digests the same few dozen modules."""
    return ast.parse(source)


@lru_cache(maxsize=None)
def _module_imports(source: str, module: str) -> tuple[str, ...]:
    return tuple(_imports(_tree(source), module))


@lru_cache(maxsize=None)
def _dump(source: str) -> str:
    return ast.dump(_tree(source))


def code_closure(script: str | Path) -> list[Path]:
    """The package modules a script runs: its imports of ``vemtransfer``, followed transitively.

    Parent packages' ``__init__`` modules count (Python runs them on import); data files the
    code reads (schema, recipes) reach jobs through their ``config`` param instead.
    """
    seen: dict[Path, None] = {}
    todo = [(Path(script), "")]
    while todo:
        path, module = todo.pop()
        for name in _module_imports(Path(path).read_text(), module):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                f = _module_file(".".join(parts[:i]))
                if f is not None and f not in seen:
                    seen[f] = None
                    todo.append((f, ".".join(parts[:i]) if f.name != "__init__.py" else ".".join(parts[:i]) + ".__init__"))
    return sorted(seen)


def code_digest(script: str | Path) -> str:
    """Short digest of a workflow script and the package code it runs (see :func:`code_closure`)."""
    h = hashlib.sha256(_parsed(Path(script)).encode() + b"\0")
    for f in code_closure(script):
        h.update(str(f.relative_to(PACKAGE_DIR)).encode() + b"\0" + _parsed(f).encode() + b"\0")
    return h.hexdigest()[:12]
