"""Write docs/config-reference.md from the config's JSON schema: every key, its type, default and
description, so the reference cannot drift from what the validator accepts.

    python scripts/config_reference.py            # (re)write docs/config-reference.md
    python scripts/config_reference.py --check    # exit 1 if the file is not what this writes

Keys are dotted paths; `<name>` stands for a key the user chooses (a dataset, a task, a label),
`[]` for the items of a list. Variants (a dataset's `kind`, a model given by `url` or `path`)
are named in the description. The output depends only on the schema and the CPU recipe, in
schema order, so it is byte-for-byte reproducible.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

from vemtransfer.config import SCHEMA_PATH

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "config-reference.md"
Row = tuple[str, str, str, str, str]  # key, type, default, cpu recipe default, description


def _resolve(node: Any, schema: dict) -> dict:
    """A node with its $ref merged in (the node's own keys win), refs followed transitively."""
    if not isinstance(node, dict):
        return {}
    seen = set()
    while "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ValueError(f"cyclic $ref {ref}")
        seen.add(ref)
        target: Any = schema
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _text(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _literal(value: Any) -> str:
    return "`" + json.dumps(value, ensure_ascii=False) + "`" if not isinstance(value, str) else f"`{value}`"


def _type(node: dict, schema: dict) -> str:
    if "const" in node:
        return _literal(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(_literal(v) for v in node["enum"])
    types = node.get("type")
    names = [types] if isinstance(types, str) else list(types or [])
    if not names:
        for key in ("oneOf", "anyOf"):
            if key in node:
                parts = [_type(_resolve(v, schema), schema) for v in node[key]]
                return " or ".join(dict.fromkeys(p for p in parts if p))
        if "if" in node and ("then" in node or "else" in node):
            parts = [_type(_resolve(node.get(b, {}), schema), schema) or "object" for b in ("then", "else")]
            cond = _resolve(node["if"], schema).get("type")
            return " or ".join(dict.fromkeys(([cond] if cond else []) + parts))
        if "properties" in node or "additionalProperties" in node:
            names = ["object"]
    out = []
    for name in names:
        if name == "array":
            lo, hi = node.get("minItems"), node.get("maxItems")
            size = "" if lo is None and hi is None else f"[{lo}]" if lo == hi else f"[{lo or 0}–{hi if hi is not None else '…'}]"
            item = _type(_resolve(node.get("items", {}), schema), schema)
            out.append(f"array{size}" + (f" of {item}" if item else ""))
        else:
            out.append(name)
    return " or ".join(out)


def _condition(cond: dict) -> str:
    """Words for an `if` of the schema: a const discriminator, a required key or a type."""
    consts = [f"{k}: {v['const']}" for k, v in cond.get("properties", {}).items() if isinstance(v, dict) and "const" in v]
    if consts:
        return ", ".join(consts)
    if cond.get("required"):
        return "with " + ", ".join(f"`{k}`" for k in cond["required"])
    if "type" in cond:
        return f"a {cond['type']}"
    return "if"


def _variants(node: dict, schema: dict) -> list[tuple[str, dict]]:
    """Alternative shapes of a node, each labelled: oneOf/anyOf branches and if/then/else branches."""
    out: list[tuple[str, dict]] = []
    for key in ("oneOf", "anyOf"):
        branches = node.get(key, [])
        for i, branch in enumerate(branches, 1):
            b = _resolve(branch, schema)
            if b.get("properties") or b.get("items") or b.get("additionalProperties") not in (None, False):
                out.append((f"variant {i} of {len(branches)}", b))
    conditional = [node] + [_resolve(x, schema) for x in node.get("allOf", [])]
    for part in conditional:
        if "if" not in part:
            continue
        label = _condition(_resolve(part["if"], schema))
        negated = "without " + label[5:] if label.startswith("with ") else f"not {label}"
        for branch, text in (("then", label), ("else", negated)):
            b = _resolve(part.get(branch, {}), schema)
            if b.get("properties") or b.get("additionalProperties") not in (None, False, True):
                out.append((text, b))
    return out


def _default(node: dict) -> str:
    if "default" not in node:
        return ""
    value = node["default"]
    return "" if value == {} and (node.get("type") == "object" or "properties" in node) else _literal(value)


def _recipe_value(recipe: dict, path: str) -> str:
    node: Any = recipe
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    return _literal(node)


def _placeholder(node: dict, schema: dict) -> str:
    ref = node.get("propertyNames", {}).get("$ref", "")
    return f"<{ref.rsplit('/', 1)[-1]}>" if ref else "<name>"


def _rows(path: str, node: Any, schema: dict, recipe: dict, note: str = "") -> Iterator[Row]:
    node = _resolve(node, schema)
    if not node and not note:
        return
    if path:
        desc = _text(node.get("description", "") or node.get("title", ""))
        if note:
            desc = f"*{_text(note)}*" + (f": {desc}" if desc else "")
        leaf = not (node.get("properties") or isinstance(node.get("additionalProperties"), dict))
        yield (path, _type(node, schema), _default(node), _recipe_value(recipe, path) if leaf else "", desc)
    prefix = f"{path}." if path else ""
    for key, child in node.get("properties", {}).items():
        yield from _rows(prefix + key, child, schema, recipe)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _rows(prefix + _placeholder(node, schema), extra, schema, recipe)
    for pattern, child in node.get("patternProperties", {}).items():
        yield from _rows(prefix + "<name>", child, schema, recipe, note=f"keys matching {pattern}")
    items = _resolve(node.get("items"), schema)
    if items and (items.get("properties") or _variants(items, schema)):
        for key, child in items.get("properties", {}).items():
            yield from _rows(f"{path}[].{key}", child, schema, recipe)
        for label, branch in _variants(items, schema):
            yield from _branch(f"{path}[]", branch, label, schema, recipe)
    for label, branch in _variants(node, schema):
        yield from _branch(path, branch, label, schema, recipe)


def _branch(path: str, branch: dict, label: str, schema: dict, recipe: dict) -> Iterator[Row]:
    """Rows of one variant of ``path``, each description starting with the variant's label."""
    if branch.get("type") == "array" or "items" in branch:
        items = _resolve(branch.get("items"), schema)
        if items.get("properties") or _variants(items, schema):
            yield from (_mark(r, label) for r in _rows(path + "[]", items, schema, recipe))
        return
    prefix = f"{path}." if path else ""
    for key, child in branch.get("properties", {}).items():
        if set(_resolve(child, schema)) == {"const"}:
            continue  # the discriminator itself (kind: local): already in the variant's label
        yield from (_mark(r, label) for r in _rows(prefix + key, child, schema, recipe))
    extra = branch.get("additionalProperties")
    if isinstance(extra, dict):
        yield from (_mark(r, label) for r in _rows(prefix + _placeholder(branch, schema), extra, schema, recipe))
    for sub_label, sub in _variants({k: v for k, v in branch.items() if k in ("oneOf", "anyOf")}, schema):
        yield from _branch(path, sub, f"{label}, {sub_label}", schema, recipe)


def _mark(row: Row, label: str) -> Row:
    """Prefix a row's description with its variant, nested variants joined by '; '."""
    key, typ, default, cpu, desc = row
    inner = re.match(r"\*([^*]+)\*(?:: )?(.*)", desc)
    if inner:
        label, desc = f"{_text(label)}; {inner.group(1)}", inner.group(2)
    return (key, typ, default, cpu, f"*{_text(label)}*" + (f": {desc}" if desc else ""))


def _recipe() -> dict:
    """The CPU recipe's values (a recipe file beside the package's schema or in its recipes/ folder)."""
    for candidate in (SCHEMA_PATH.parent / "recipes" / "cpu.yaml",):
        if candidate.is_file():
            return yaml.safe_load(candidate.read_text()) or {}
    return {}


def render() -> str:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    recipe = _recipe()
    lines = [
        "# Config reference",
        "",
        "<!-- Generated by scripts/config_reference.py from the package's config.schema.yaml; do not edit. -->",
        "",
        "Every key a config may set, generated from the JSON schema that `vemtransfer validate` and the",
        "workflow check every config against before any job runs (a key not listed here is an error).",
        "`<name>` is a key you choose (a dataset, a task, a label name); `[]` marks the items of a list;",
        "*italics* name the variant a row belongs to (e.g. a dataset's `kind`). **Default** is the",
        "schema's default, which is the paper's setting (`recipe: paper`); **cpu recipe** is the value",
        "`recipe: cpu` puts underneath your own keys where it differs. Regenerate with",
        "`python scripts/config_reference.py`; a test fails when this page is stale.",
        "",
    ]
    top = _resolve(schema, schema)
    for key, child in top.get("properties", {}).items():
        node = _resolve(child, schema)
        lines += [f"## `{key}`", ""]
        if node.get("description"):
            lines += [_text(node["description"]), ""]
        if key in top.get("required", []):
            lines += ["Required.", ""]
        lines += ["| key | type | default | cpu recipe | description |", "|---|---|---|---|---|"]
        rows = list(_rows(key, child, schema, recipe))
        for row in rows[1:] if len(rows) > 1 else rows:  # a section's own row repeats the text above
            k, typ, default, cpu, desc = row
            lines.append(f"| `{k}` | {typ} | {default} | {cpu if cpu != default else ''} | {desc} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the reference is stale, writing nothing")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(current.splitlines(), text.splitlines(), str(args.out), "generated", lineterm="", n=1)
        print("\n".join(list(diff)[:40]), file=sys.stderr)
        print(f"{args.out} is stale: run python scripts/config_reference.py", file=sys.stderr)
        return 1
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
