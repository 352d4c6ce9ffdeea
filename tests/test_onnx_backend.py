"""The ONNX Runtime backend gives the same detections and the same COCO mAP as PyTorch, and `auto` degrades safely."""

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from effdet import DetBenchPredict
from timm.layers import FrozenBatchNormAct2d
from torchvision.ops.misc import FrozenBatchNorm2d

from rpsdet.classes import CLASS_NAMES
from rpsdet.evaluate.inference import evaluate_dataset
from rpsdet.model.checkpoint import read_checkpoint, save_checkpoint
from rpsdet.model.factory import build_effdet
from rpsdet.model.onnx_backend import export_onnx
from rpsdet.model.predict import Detection, Detector

IMAGE_SIZE = 128  # the input size of conftest's random_checkpoint


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RPSDET_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def assert_same_detections(expected: list[Detection], got: list[Detection]) -> None:
    """Same count; each detection has a partner of the same class, box within 1 px and score within 1e-3."""
    assert len(got) == len(expected)
    free = list(got)
    for d in expected:
        partner = next(
            (
                g
                for g in free
                if g.label == d.label
                and abs(g.score - d.score) <= 1e-3
                and np.abs(np.subtract(g.box, d.box)).max() <= 1.0
            ),
            None,
        )
        assert partner is not None, f"no ONNX partner for {d}"
        free.remove(partner)


def test_onnx_detections_match_torch(random_checkpoint, drawn_images, cache):
    torch_det = Detector.from_checkpoint(random_checkpoint, backend="torch")
    onnx_det = Detector.from_checkpoint(random_checkpoint, backend="onnx")
    assert (torch_det.backend, onnx_det.backend) == ("torch", "onnx")
    for batch in (drawn_images[:1], drawn_images):  # batch size 1 and a mixed-size batch through the dynamic axis
        expected, got = torch_det.predict(batch, 0.05), onnx_det.predict(batch, 0.05)
        assert sum(map(len, expected)) > 20
        for e, g in zip(expected, got, strict=True):
            assert_same_detections(e, g)


def test_frozen_batchnorm_exports_and_gives_the_same_detections(drawn_images, tmp_path):
    """train.norm: frozen_batch (pretrained BatchNorm statistics held fixed) runs in ONNX Runtime like the rest."""
    torch.manual_seed(0)
    model = build_effdet("efficientdet_d0", IMAGE_SIZE, len(CLASS_NAMES), "frozen_batch")
    frozen = [m for m in model.modules() if isinstance(m, (FrozenBatchNorm2d, FrozenBatchNormAct2d))]
    assert len(frozen) > 100 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for m in frozen:  # statistics as a pretrained file would hold them, not the identity of a fresh layer
        m.running_mean.normal_(0, 0.1), m.running_var.uniform_(0.5, 2.0), m.weight.uniform_(0.5, 1.5)
        m.bias.normal_(0, 0.1)
    with torch.no_grad():  # scores spread over ~0.05-0.5, so ranking and NMS are exercised
        model.class_net.predict.conv_pw.bias.uniform_(-3.0, 0.0)
    path = tmp_path / "frozen.pt"
    save_checkpoint(
        path,
        model,
        {"arch": "efficientdet_d0", "image_size": IMAGE_SIZE, "norm": "frozen_batch", "class_names": list(CLASS_NAMES)},
    )
    torch_det = Detector.from_checkpoint(path, backend="torch")
    onnx_det = Detector.from_checkpoint(path, backend="onnx")
    expected, got = torch_det.predict(drawn_images, 0.05), onnx_det.predict(drawn_images, 0.05)
    assert sum(map(len, expected)) > 20
    for e, g in zip(expected, got, strict=True):
        assert_same_detections(e, g)


def test_batchnorm_is_folded_into_the_convolutions_at_export(tmp_path):
    """train.norm: batch costs nothing at inference: the exporter folds every BatchNorm into its convolution (eval
    mode), so the file has no BatchNormalization node left for ONNX Runtime to run (bench/bench_norm.py)."""
    torch.manual_seed(0)
    model = build_effdet("efficientdet_d0", IMAGE_SIZE, len(CLASS_NAMES), "batch")
    for m in model.modules():  # trained-looking statistics, so a wrong fold would show in export_onnx's check
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1), m.running_var.uniform_(0.5, 2.0)
    ops = {node.op_type for node in onnx.load(str(export_onnx(model, IMAGE_SIZE, tmp_path / "bn.onnx"))).graph.node}
    assert "Conv" in ops and "BatchNormalization" not in ops


def test_torch_backend_is_detbenchpredict(random_checkpoint, drawn_images):
    """The refactored forward (swappable network) returns exactly what effdet's DetBenchPredict returns."""
    detector = Detector.from_checkpoint(random_checkpoint, backend="torch")
    x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    scale, size = torch.ones(2), torch.full((2, 2), float(IMAGE_SIZE))
    with torch.inference_mode():
        expected = DetBenchPredict(detector.bench.model).eval()(x, {"img_scale": scale, "img_size": size})
        assert torch.equal(detector._forward(x, scale, size), expected)


@pytest.mark.parametrize("threshold", [0.05, 0.12, 0.99])
def test_score_prefilter_keeps_exactly_the_detections_above_it(random_checkpoint, threshold):
    """NMS over only the candidates above the threshold gives the same detections above it as effdet's full run."""
    detector = Detector.from_checkpoint(random_checkpoint, backend="torch")
    x = torch.randn(3, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(2))
    scale, size = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([[128.0, 128.0], [256.0, 200.0], [64.0, 50.0]])
    with torch.inference_mode():
        full, fast = detector._forward(x, scale, size), detector._forward(x, scale, size, threshold)
    for f, g in zip(full, fast, strict=True):
        above = f[f[:, 4] > threshold]
        torch.testing.assert_close(g[: len(above)], above, rtol=0, atol=1e-6)  # sigmoid may differ by 1 ulp
        assert not g[len(above) :].any()


def test_channels_last_torch_backend_matches_contiguous(random_checkpoint, drawn_images):
    """from_checkpoint's PyTorch backend stores weights NHWC on CPU; detections equal those of the plain model."""
    fast = Detector.from_checkpoint(random_checkpoint, backend="torch")
    conv = fast.bench.model.backbone.conv_stem.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    model = build_effdet("efficientdet_d0", IMAGE_SIZE, len(CLASS_NAMES), "group")
    model.load_state_dict(read_checkpoint(random_checkpoint)["state_dict"])
    plain = Detector(model, IMAGE_SIZE, list(CLASS_NAMES))
    for e, g in zip(plain.predict(drawn_images, 0.05), fast.predict(drawn_images, 0.05), strict=True):
        assert_same_detections(e, g)


def test_auto_exports_once_and_reuses_the_cached_file(random_checkpoint, cache):
    first = Detector.from_checkpoint(random_checkpoint)
    assert first.backend == "onnx"
    files = list(cache.glob("*.onnx"))
    assert len(files) == 1 and first.net.path == files[0]
    stamp = files[0].stat().st_mtime_ns
    assert Detector.from_checkpoint(random_checkpoint).net.path == files[0]
    assert files[0].stat().st_mtime_ns == stamp and not list(cache.glob("*.tmp"))


def test_auto_falls_back_to_torch_with_a_reason(random_checkpoint, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if it were not installed
    detector = Detector.from_checkpoint(random_checkpoint, backend="auto")
    assert detector.backend == "torch"
    assert "ONNX Runtime unavailable" in caplog.text
    with pytest.raises(ImportError):
        Detector.from_checkpoint(random_checkpoint, backend="onnx")


def test_auto_keeps_torch_for_large_inputs(tmp_path, cache):
    """At 512 px channels_last PyTorch beats ONNX Runtime on CPU (bench/bench_speed.py): auto exports nothing."""
    path = tmp_path / "large.pt"
    save_checkpoint(
        path,
        build_effdet("efficientdet_d0", 512, len(CLASS_NAMES), "group"),
        {"arch": "efficientdet_d0", "image_size": 512, "norm": "group", "class_names": list(CLASS_NAMES)},
    )
    assert Detector.from_checkpoint(path).backend == "torch" and not cache.exists()


def test_unknown_backend_is_refused(random_checkpoint):
    with pytest.raises(ValueError, match="backend must be one of"):
        Detector.from_checkpoint(random_checkpoint, backend="tensorrt")


@pytest.mark.slow
def test_onnx_gives_the_same_coco_map(tiny_checkpoint, tiny_splits):
    """On a real (briefly trained) checkpoint, evaluation gives the same pycocotools figures to 3 decimals."""
    test_json = tiny_splits / "test.json"
    expected, _ = evaluate_dataset(Detector.from_checkpoint(tiny_checkpoint, backend="torch"), test_json)
    got, _ = evaluate_dataset(Detector.from_checkpoint(tiny_checkpoint, backend="onnx"), test_json)
    for key in ("map", "map50", "map75", "ar100"):
        assert round(got[key], 3) == round(expected[key], 3), key
