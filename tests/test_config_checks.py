"""Config checks that run before any job: keys a download needs, sections that figures and baselines
name, preprocessing sizes given twice, labelled sections outside the volume."""

from __future__ import annotations

import copy

import pytest

from vemtransfer.config import ConfigError, validate_config


def _fails(raw: dict, *needles: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


@pytest.mark.parametrize("kind, spec, missing", [
    ("zenodo_file", {"members": {"image": "a.tif"}, "sha256": "0" * 64}, "url"),
    ("zenodo_file", {"url": "https://zenodo.org/x.zip", "members": {"image": "a.tif"}}, "give sha256 or md5"),
    ("zenodo_record", {"image": {"file": "a.zip", "member": "(?P<z>\\d+).tif"}, "labels": {"mito": {"file": "b.zip", "member": "(?P<z>\\d+).tif"}}}, "api_url"),
    ("http_files", {"base_url": "https://example.org", "volumes": ["v"], "label_patterns": {"mito": "{volume}.nii"}}, "image_pattern"),
    ("empiar_slices", {"base_url": "https://example.org", "raw_dir": "raw", "label_zips": {"mito": "m.zip"}}, "raw_pattern"),
])
def test_a_download_without_a_key_it_needs_fails_at_start(tiny_raw, kind, spec, missing):
    tiny_raw["datasets"]["remote"] = {"kind": kind, **spec, "voxel_nm": [50, 8, 8]}
    _fails(tiny_raw, "datasets.remote", missing if missing.startswith("give") else repr(missing))


def test_resize_and_pixel_size_together_are_refused(tiny_raw):
    tiny_raw["datasets"]["synthetic_liver"]["voxel_nm"] = [40, 10, 10]
    tiny_raw["tasks"]["SynthLiver-M"]["preprocess"] = {"resize_yx": [32, 32], "voxel_yx_nm": 20}
    _fails(tiny_raw, "tasks.SynthLiver-M.preprocess: give resize_yx", "not both")


def test_labelled_sections_outside_the_volume_are_refused(tiny_raw):
    tiny_raw["tasks"]["SynthLiver-M"]["labelled_sections"] = [1, 5, 12, 40]  # the volume has sections 0..11
    _fails(tiny_raw, "tasks.SynthLiver-M.labelled_sections: [12, 40] lie outside")


def test_fig4_section_past_the_test_split_is_refused(tiny_raw):
    ok = copy.deepcopy(tiny_raw)
    ok["figures"]["fig4"]["section"] = 3  # SynthLiver-M tests on z 8..12: sections 0..3
    validate_config(ok)
    tiny_raw["figures"]["fig4"]["section"] = 4
    _fails(tiny_raw, "figures.fig4.section: 4 is past the 4 test sections of SynthLiver-M")


def test_baseline_sections_past_the_test_split_are_refused(tiny_raw):
    tiny_raw["baselines"] = {"sections": [0, 6], "sam2": {"weights": {"url": "https://example.org/w.pt", "sha256": "0" * 64},
                                                          "automatic": {"tasks": ["SynthLiver-M"]}},
                             "mitonet": {"weights": {"url": "https://example.org/m.pth", "sha256": "0" * 64}}}
    _fails(tiny_raw, "baselines.sections: [0, 6] reaches past the 4 test sections of SynthLiver-M")


SCHEMA_KEYWORDS = {
    "$schema", "$defs", "$ref", "title", "description", "type", "default", "examples", "properties", "additionalProperties",
    "patternProperties", "propertyNames", "required", "minProperties", "items", "minItems", "maxItems", "uniqueItems", "enum",
    "const", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "oneOf", "anyOf", "allOf", "not", "if",
    "then", "else",
}


def _stray_keys(node, path=(), named=False):
    """Keys of schema objects that are no JSON-schema keyword: in YAML, a comma in an unquoted flow-style
    description ends it, and the rest becomes such a key (silently ignored by validators)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not named and key not in SCHEMA_KEYWORDS and path[-1:] != ("default",):
                yield ".".join((*path, key))
            yield from _stray_keys(value, (*path, key), named=not named and key in ("properties", "$defs"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _stray_keys(value, (*path, str(i)))


def test_schema_has_only_keywords():
    import yaml

    from vemtransfer.config import SCHEMA_PATH

    assert list(_stray_keys(yaml.safe_load(SCHEMA_PATH.read_text()))) == []
    assert list(_stray_keys(yaml.safe_load("properties: {k: {description: one, two., type: string}}"))) == ["properties.k.two."]
