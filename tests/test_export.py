"""`rpsdet export-model`: the whole detector in one ONNX / OpenVINO file, run in its own runtime, gives PyTorch's
detections; its metadata and the README's lines are all a user needs to run it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import onnx
import pytest
from PIL import Image
from test_onnx_backend import assert_same_detections  # the ONNX backend's tolerance: 1 px, 1e-3 in score

from rpsdet.classes import CLASS_NAMES
from rpsdet.cli import main
from rpsdet.data.coco import image_path, read_coco
from rpsdet.model.export import ExportedModel, export_checkpoint, letterbox
from rpsdet.model.predict import Detector
from rpsdet.model.preprocess import letterbox as letterbox_transforms

IMAGE_SIZE = 128  # the input size of conftest's random_checkpoint
MIN_SCORE = 0.05
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def exported(random_checkpoint, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exported")
    return {
        fmt: export_checkpoint(random_checkpoint, out / fmt / f"model{suffix}", fmt, MIN_SCORE).path
        for fmt, suffix in (("onnx", ".onnx"), ("openvino", ".xml"))
    }


def test_letterbox_is_the_models_own_transform(drawn_images):
    """The graph's input is rpsdet's letterbox before normalisation, to the bit: same resize, same padding."""
    for rgb in drawn_images:
        expected = A.Compose(letterbox_transforms(IMAGE_SIZE))(image=rgb)["image"]
        np.testing.assert_array_equal(letterbox(rgb, IMAGE_SIZE)[0], expected)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_exported_file_in_its_runtime_gives_pytorchs_detections(fmt, exported, random_checkpoint, drawn_images):
    torch_detector = Detector.from_checkpoint(random_checkpoint, backend="torch")
    model = ExportedModel(exported[fmt], threads=2)
    counts = []
    for rgb in drawn_images:
        expected = torch_detector.predict([rgb], MIN_SCORE)[0]
        assert_same_detections(expected, model.predict(rgb, MIN_SCORE))
        counts.append(len(expected))
    assert min(counts) > 20  # NMS, ranking and the top-100 cut all had work to do


def test_no_candidate_above_min_score_gives_only_zero_rows(random_checkpoint, drawn_images, tmp_path):
    """Nothing reaches NMS (an empty NonMaxSuppression input): the outputs keep their shapes, all scores 0."""
    path = export_checkpoint(random_checkpoint, tmp_path / "model.onnx", "onnx", min_score=0.99).path
    import onnxruntime as ort

    rgb = drawn_images[0]
    boxes, scores, labels = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"images": letterbox(rgb, IMAGE_SIZE), "original_size": np.array([[160, 120]], np.float32)}
    )
    assert boxes.shape == (1, 100, 4) and labels.shape == (1, 100) and not scores.any()


def test_metadata_is_next_to_and_inside_the_file(exported):
    sidecar = json.loads(exported["onnx"].with_suffix(".json").read_text())
    assert sidecar["class_names"] == list(CLASS_NAMES) and sidecar["input_size"] == IMAGE_SIZE
    assert sidecar["normalisation"]["mean"] == [0.485, 0.456, 0.406]
    assert sidecar["post_processing"]["min_score"] == MIN_SCORE and "letterbox" in sidecar
    proto = onnx.load(str(exported["onnx"]))
    assert json.loads({p.key: p.value for p in proto.metadata_props}["rpsdet"]) == sidecar
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims == {"images": [1, IMAGE_SIZE, IMAGE_SIZE, 3], "original_size": [1, 2]}
    assert [o.name for o in proto.graph.output] == ["boxes", "scores", "labels"]
    assert not [n.op_type for n in proto.graph.node if n.op_type == "NonZero"]  # static shapes up to NMS
    ov_meta = json.loads(exported["openvino"].with_suffix(".json").read_text())
    assert ov_meta["openvino_compile_config"] == {"INFERENCE_PRECISION_HINT": "f32"}
    assert exported["openvino"].with_suffix(".bin").stat().st_size > 10 * 2**20  # fp32 weights


def readme_snippet() -> str:
    section = README.read_text().split("### Export for devices and other runtimes", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def clear_threshold(scores: list[float], gap: float = 2.5e-3) -> float:
    """The lowest threshold above MIN_SCORE that no score comes within gap/2 of: scores that differ by the runtimes'
    1e-3 tolerance then fall on the same side of it."""
    ranked = sorted(s for s in scores if s >= MIN_SCORE)
    for low, high in zip(ranked, ranked[1:]):
        if high - low > gap:
            return (low + high) / 2
    raise AssertionError(f"no gap of {gap} between the scores {ranked}")


def test_the_readme_lines_run_the_export_without_rpsdet(exported, random_checkpoint, drawn_images, tmp_path):
    """The README's code, verbatim but for the threshold, in a fresh interpreter where `import rpsdet` fails."""
    code = readme_snippet()
    assert "CONF = 0.4\n" in code
    folder = tmp_path / "exports" / "model@v0.1.0"
    folder.mkdir(parents=True)
    for suffix in (".onnx", ".json"):
        (folder / f"model{suffix}").write_bytes(exported["onnx"].with_suffix(suffix).read_bytes())
    cv2.imwrite(str(tmp_path / "photo.jpg"), cv2.cvtColor(drawn_images[3], cv2.COLOR_RGB2BGR))
    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "photo.jpg")), cv2.COLOR_BGR2RGB)
    expected = Detector.from_checkpoint(random_checkpoint, backend="torch").predict([rgb], MIN_SCORE)[0]
    conf = clear_threshold([d.score for d in expected])
    expected = [d for d in expected if d.score >= conf]
    guard = "import sys; sys.modules['rpsdet'] = None  # any rpsdet import now raises\n"
    run = subprocess.run(
        [sys.executable, "-c", guard + code.replace("CONF = 0.4\n", f"CONF = {conf}\n")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    printed = [line.split() for line in run.stdout.splitlines()]
    assert len(printed) == len(expected) > 10
    for d, (name, score, *box) in zip(expected, printed):  # both in descending score order
        assert name == CLASS_NAMES[d.label] and abs(float(score) - d.score) <= 1e-3
        assert np.abs(np.subtract([float(v) for v in box], d.box)).max() <= 1.0


def test_export_refuses_a_wrong_suffix_or_format(random_checkpoint, tmp_path, capsys):
    assert (
        main(
            [
                "export-model",
                "--format",
                "openvino",
                "--model",
                str(random_checkpoint),
                "--out",
                str(tmp_path / "model.onnx"),
            ]
        )
        == 2
    )
    assert "--format openvino writes a .xml file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_export_model_command_on_a_trained_checkpoint(tiny_checkpoint, tiny_splits, tmp_path, capsys):
    """The command on a real (briefly trained) model; its ONNX file finds what PyTorch finds on the test photos."""
    out = tmp_path / "exports" / "model.onnx"
    assert (
        main(
            [
                "export-model",
                "--format",
                "onnx",
                "--model",
                str(tiny_checkpoint),
                "--out",
                str(out),
                "--min-score",
                "0.01",
                "--params",
                str(tmp_path / "none.yaml"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"{out}  " in printed and "MiB" in printed and str(out.with_suffix(".json")) in printed
    model = ExportedModel(out, threads=2)
    assert model.metadata["source"] == tiny_checkpoint.stem
    detector = Detector.from_checkpoint(tiny_checkpoint, backend="torch")
    found = 0
    for record in read_coco(tiny_splits / "test.json")[:6]:
        rgb = np.asarray(Image.open(image_path(tiny_splits / "test.json", record)).convert("RGB"))
        expected = detector.predict([rgb], 0.01)[0]
        assert_same_detections(expected, model.predict(rgb, 0.01))
        found += len(expected)
    assert found > 0
