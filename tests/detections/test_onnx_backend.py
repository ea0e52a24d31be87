"""The onnx backend with small YOLO-shaped models built here with the onnx package.

Each model ignores its input's content and returns a fixed output tensor, so we know
exactly which letterboxed boxes it "sees"; the backend must map them back to the original,
non-square frame within a pixel, in both output layouts, on both runtimes.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from detections.backends.onnx import COCO, OnnxDetector, letterbox

SIZE = 320
FRAME_W, FRAME_H = 1280, 720  # scale 0.25, padded 70 px top and bottom


def to_input(x, y, w, h):
    """Original-frame box -> centre box in the letterboxed input."""
    scale, pad_y = SIZE / FRAME_W, (SIZE - FRAME_H * SIZE / FRAME_W) / 2
    return (x + w / 2) * scale, (y + h / 2) * scale + pad_y, w * scale, h * scale


EXPECTED = [
    ("person", 0.92, (100, 200, 80, 240)),
    ("car", 0.81, (700, 300, 400, 200)),
    ("dog", 0.7, (1000, 600, 120, 100)),
]


def output_tensor(layout: str, candidates: int = 50) -> np.ndarray:
    nc = len(COCO)
    rows = np.zeros((candidates, 5 + nc if layout == "v5" else 4 + nc), dtype=np.float32)
    for i, (label, confidence, box) in enumerate(EXPECTED):
        rows[i, :4] = to_input(*box)
        if layout == "v5":
            rows[i, 4] = 1.0  # objectness
            rows[i, 5 + COCO.index(label)] = confidence
        else:
            rows[i, 4 + COCO.index(label)] = confidence
    # A duplicate of the person, slightly shifted and less sure: NMS must drop it.
    rows[len(EXPECTED)] = rows[0]
    rows[len(EXPECTED), 0] += 1
    rows[len(EXPECTED), (5 if layout == "v5" else 4) + COCO.index("person")] = 0.6
    out = rows[None] if layout == "v5" else rows.T[None]
    return np.ascontiguousarray(out)


def build_model(path, layout: str) -> None:
    const = output_tensor(layout)
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo-shaped",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(const.shape))],
        initializer=[numpy_helper.from_array(const, "table"), numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.mark.parametrize("runtime", ["opencv", "onnxruntime"])
@pytest.mark.parametrize("layout", ["v5", "v8"])
def test_boxes_come_back_within_a_pixel_in_the_original_frame(tmp_path, layout, runtime):
    model = tmp_path / f"yolo-{layout}.onnx"
    build_model(model, layout)
    detector = OnnxDetector(model=str(model), size=SIZE, runtime=runtime)
    frame = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8)
    boxes = detector.detect(frame).boxes
    assert [(b.label, round(b.confidence, 2)) for b in boxes] == [(label, c) for label, c, _ in EXPECTED]
    for box, (_, _, (x, y, w, h)) in zip(boxes, EXPECTED, strict=True):
        assert abs(box.x - x) <= 1 and abs(box.y - y) <= 1
        assert abs(box.width - w) <= 1 and abs(box.height - h) <= 1


def test_letterbox_keeps_the_aspect_ratio_and_centres_the_picture():
    image, scale, pad_x, pad_y = letterbox(np.zeros((720, 1280, 3), np.uint8), SIZE)
    assert image.shape == (SIZE, SIZE, 3) and scale == 0.25 and (pad_x, pad_y) == (0, 70)
    assert (image[:70] == 114).all() and (image[70:250] == 0).all() and (image[250:] == 114).all()


def test_a_missing_model_file_is_a_clear_configuration_error(tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="is not a readable .onnx file"):
        OnnxDetector(model=str(tmp_path / "nope.onnx"))
