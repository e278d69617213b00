"""SAM2 baselines (Table 3): box conventions, the background rule, prompts and stack dispatch.

One random-weight SAM2.1 hiera-s on CPU, never a download. Random weights give arbitrary
masks, so the tests check structure (what goes into SAM2, how its outputs are combined),
not quality. The image encoder costs seconds per call on CPU, so its output is memoised
per distinct image: every section is encoded for real once, later calls reuse it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

sam2 = pytest.importorskip("sam2", reason="the baselines extra is not installed: pip install -e '.[baselines]' (see README)")

import torch  # noqa: E402
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator  # noqa: E402
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402
from sam2.utils.amg import area_from_rle, mask_to_rle_pytorch, rle_to_mask  # noqa: E402

from vemtransfer.baselines.sam2 import automatic, build, label_boxes, prompted, segment_stack  # noqa: E402

H, W = 96, 128


def ellipses(centres: list[tuple[int, int, int, int]]) -> np.ndarray:
    """bool HxW union of axis-aligned ellipses (cy, cx, ry, rx)."""
    yy, xx = np.mgrid[:H, :W]
    out = np.zeros((H, W), dtype=bool)
    for cy, cx, ry, rx in centres:
        out |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return out


LABEL = ellipses([(20, 25, 8, 14), (60, 40, 12, 9), (45, 100, 10, 16)])


def section(label: np.ndarray, seed: int) -> np.ndarray:
    """uint8 grey section: noisy dark cytoplasm with the label's organelles bright."""
    rng = np.random.default_rng(seed)
    return np.clip(60 + 140 * label + rng.normal(0, 12, label.shape), 0, 255).astype(np.uint8)


IMAGE = section(LABEL, 0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("configs/sam2.1/sam2.1_hiera_s.yaml", None, "cpu")


@pytest.fixture(scope="module")
def encoded(model):
    """Memoise SAM2ImagePredictor.set_image per image; yields the list of images it was called with."""
    original = SAM2ImagePredictor.set_image
    cache: dict[tuple, tuple] = {}
    calls: list[np.ndarray] = []

    def set_image(self, image):
        calls.append(np.array(image))
        key = (image.shape, hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest())
        if key not in cache:
            original(self, image)
            cache[key] = (self._features, self._orig_hw)
        self.reset_predictor()
        self._features, self._orig_hw = cache[key]
        self._is_image_set = True

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SAM2ImagePredictor, "set_image", set_image)
        yield calls


@pytest.fixture
def set_image_calls(encoded):
    encoded.clear()
    return encoded


@pytest.fixture
def predict_calls(monkeypatch):
    """Record SAM2ImagePredictor.predict's keyword arguments and outputs, calling through."""
    original = SAM2ImagePredictor.predict
    calls: list[dict] = []

    def predict(self, **kwargs):
        result = original(self, **kwargs)
        calls.append({**kwargs, "result": result})
        return result

    monkeypatch.setattr(SAM2ImagePredictor, "predict", predict)
    return calls


def test_label_boxes_exact_inclusive_and_8_connected():
    label = np.zeros((40, 60), dtype=np.uint8)
    label[2:5, 10:20] = 1  # rectangle: rows 2..4, cols 10..19
    label[10, 30] = label[11, 31] = label[12, 32] = 7  # diagonal chain: one component
    label[30, 5] = 1  # single pixel
    boxes, components = label_boxes(label)
    np.testing.assert_array_equal(boxes, [[10, 2, 19, 4], [30, 10, 32, 12], [5, 30, 5, 30]])
    assert boxes.dtype == np.float32 and components.dtype == np.int32
    assert components[3, 15] == 1 and components[11, 31] == components[12, 32] == 2 and components[30, 5] == 3
    np.testing.assert_array_equal(components > 0, label > 0)
    # SAM2 derives its own box prompts from masks this way (last pixel inclusive)
    from sam2.utils.misc import mask_to_box

    sam_box = mask_to_box(torch.from_numpy(components == 2)[None, None])
    np.testing.assert_array_equal(sam_box.reshape(4).numpy(), boxes[1])


def test_label_boxes_empty():
    boxes, components = label_boxes(np.zeros((8, 9), dtype=bool))
    assert boxes.shape == (0, 4) and boxes.dtype == np.float32
    assert components.shape == (8, 9) and not components.any()


def fake_records(masks: list[np.ndarray]) -> list[dict]:
    """Automatic-generator records (uncompressed RLE) for known masks."""
    rles = mask_to_rle_pytorch(torch.from_numpy(np.stack(masks)))
    return [{"segmentation": rle, "area": area_from_rle(rle)} for rle in rles]


def test_automatic_background_rule_keeps_small_masks_only(model, monkeypatch):
    organelle = ellipses([(20, 25, 8, 14)])
    other = ellipses([(60, 80, 15, 25)])  # ~9.6% of the section: larger, still an organelle
    cytoplasm = ~organelle & ~other  # ~80% of the section
    records = fake_records([organelle, cytoplasm, other])
    monkeypatch.setattr(SAM2AutomaticMaskGenerator, "generate", lambda self, image: records)
    np.testing.assert_array_equal(automatic(model, IMAGE), organelle | other)
    np.testing.assert_array_equal(automatic(model, IMAGE, max_mask_fraction=1.0), np.ones((H, W), dtype=bool))
    assert not automatic(model, IMAGE, max_mask_fraction=organelle.mean() - 1e-6).any()
    np.testing.assert_array_equal(automatic(model, IMAGE, max_mask_fraction=organelle.mean()), organelle)


def test_automatic_runs_sam2_and_applies_rule(model, set_image_calls, monkeypatch):
    original = SAM2AutomaticMaskGenerator.generate
    seen: list = []

    def generate(self, image):
        records = original(self, image)
        seen.append((self, image, records))
        return records

    monkeypatch.setattr(SAM2AutomaticMaskGenerator, "generate", generate)
    thresholds = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, "box_nms_thresh": 1.0}
    result = automatic(model, IMAGE, max_mask_fraction=0.5, **thresholds)
    (generator, rgb, records), = seen
    assert generator.point_grids[0].shape == (16, 2) and generator.output_mode == "uncompressed_rle"
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8 and all((rgb[..., c] == IMAGE).all() for c in range(3))
    assert records, "thresholds at 0 should let random-weight masks through"
    expected = np.zeros((H, W), dtype=bool)
    for record in records:
        if record["area"] <= 0.5 * H * W:
            expected |= rle_to_mask(record["segmentation"])
    assert result.dtype == bool and result.shape == (H, W)
    np.testing.assert_array_equal(result, expected)
    assert not automatic(model, IMAGE, max_mask_fraction=0.0, **thresholds).any()
    assert len(set_image_calls) == 2


@pytest.mark.parametrize("masks", [False, True])
def test_prompted_passes_component_boxes_and_masks(model, set_image_calls, predict_calls, masks):
    result = prompted(model, IMAGE, LABEL, masks=masks, mask_logit=7.0, batch=2)
    boxes, components = label_boxes(LABEL)
    assert len(boxes) == 3 and len(set_image_calls) == 1
    assert [len(call["box"]) for call in predict_calls] == [2, 1]
    np.testing.assert_array_equal(np.concatenate([call["box"] for call in predict_calls]), boxes)
    assert all(call["multimask_output"] is False for call in predict_calls)
    union = np.zeros((H, W), dtype=bool)
    for call in predict_calls:
        union |= call["result"][0].reshape(-1, H, W).astype(bool).any(axis=0)
    assert result.dtype == bool and result.shape == (H, W)
    np.testing.assert_array_equal(result, union)
    if not masks:
        assert all(call["mask_input"] is None for call in predict_calls)
        return
    logits = np.concatenate([call["mask_input"] for call in predict_calls])
    assert logits.shape == (3, 1, 256, 256) and logits.dtype == np.float32
    assert set(np.unique(logits)) == {-7.0, 7.0}
    # SAM2 stretches the image to a square, so low-res cell (j, i) sits at pixel (j * H / 256, i * W / 256)
    yy, xx = np.mgrid[:256, :256]
    for k in range(3):
        inside = logits[k, 0] > 0
        pixels = components[(yy[inside] * H) // 256, (xx[inside] * W) // 256]
        assert (pixels == k + 1).mean() > 0.9
        upsampled = components[(yy * H) // 256, (xx * W) // 256] == k + 1
        assert (inside == upsampled).mean() > 0.99


def test_prompted_thin_component_keeps_a_mask(model, monkeypatch):
    image = np.zeros((600, 20), dtype=np.uint8)  # 600 rows: a low-res cell is 2.34 rows high
    label = np.zeros(image.shape, dtype=bool)
    label[300, 2:18] = True  # one row thick: covers under half of every cell it touches
    calls: list[dict] = []

    def predict(self, **kwargs):
        calls.append(kwargs)
        return np.zeros((1, *image.shape), np.float32), np.zeros(1, np.float32), None

    monkeypatch.setattr(SAM2ImagePredictor, "set_image", lambda self, im: None)  # predict is faked: no encoder
    monkeypatch.setattr(SAM2ImagePredictor, "predict", predict)
    assert not prompted(model, image, label, masks=True).any()
    inside = calls[0]["mask_input"][0, 0] > 0
    rows, cols = np.nonzero(inside)
    assert set(rows) == {128} and cols.min() == 25 and cols.max() == 230  # cells touching row 300, cols 2..17


def test_prompted_empty_label_skips_model(model, set_image_calls, predict_calls):
    result = prompted(model, IMAGE, np.zeros((H, W), dtype=np.uint8), masks=True)
    assert result.dtype == bool and result.shape == (H, W) and not result.any()
    assert not set_image_calls and not predict_calls


def test_segment_stack_all_modes(model, set_image_calls, capsys):
    labels = np.stack([LABEL, LABEL[::-1]])
    images = np.stack([IMAGE, section(labels[1], 1)])
    result_by_mode: dict[str, np.ndarray] = {}
    automatic_params = {"points_per_side": 4, "max_mask_fraction": 0.5, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    for mode, params, per_section in [
        ("automatic", automatic_params, lambda z: automatic(model, images[z], **automatic_params)),
        ("boxes", {"batch": 2}, lambda z: prompted(model, images[z], labels[z], masks=False, batch=2)),
        ("boxes_masks", {"mask_logit": 5.0}, lambda z: prompted(model, images[z], labels[z], masks=True, mask_logit=5.0)),
    ]:
        set_image_calls.clear()
        result = segment_stack(model, images, labels if mode != "automatic" else None, mode, params)
        assert result.dtype == bool and result.shape == (2, H, W)
        assert len(set_image_calls) == 2, mode
        for z in range(2):
            np.testing.assert_array_equal(result[z], per_section(z), err_msg=mode)
        assert f"SAM2 {mode}: 2 sections" in capsys.readouterr().err
        result_by_mode[mode] = result
    quiet = segment_stack(model, images, labels, "boxes", {"batch": 2}, progress=False)
    np.testing.assert_array_equal(quiet, result_by_mode["boxes"])
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("images", "labels", "mode", "match"),
    [
        (np.zeros((2, H, W), np.uint8), None, "boxes", "labels"),
        (np.zeros((2, H, W), np.uint8), None, "boxes_masks", "labels"),
        (np.zeros((2, H, W), np.uint8), np.zeros((2, H, W + 1), bool), "boxes", "shape"),
        (np.zeros((2, H, W), np.uint8), None, "points", "automatic, boxes, boxes_masks"),
        (np.zeros((2, H, W), np.float32), None, "automatic", "uint8"),
        (np.zeros((H, W), np.uint8), None, "automatic", "3 dimensions"),
    ],
)
def test_segment_stack_rejects_bad_input(model, set_image_calls, images, labels, mode, match):
    with pytest.raises(ValueError, match=match):
        segment_stack(model, images, labels, mode)
    assert not set_image_calls


def test_sections_must_be_2d_uint8(model):
    with pytest.raises(ValueError, match="uint8"):
        automatic(model, IMAGE.astype(np.uint16))
    with pytest.raises(ValueError, match="2 dimensions"):
        prompted(model, np.stack([IMAGE] * 3, axis=-1), LABEL, masks=False)
    with pytest.raises(ValueError, match="label shape"):
        prompted(model, IMAGE, LABEL[:, :-1], masks=False)
