"""DVC stage: pycocotools metrics of the trained model on the test split -> metrics/eval.json."""
import json
import time
from pathlib import Path

from rpsdet.data.coco import read_coco, to_coco_dict
from rpsdet.evaluate.run import evaluate_dataset
from rpsdet.files import write_json
from rpsdet.model.predict import Detector
from rpsdet.params import load_params
from rpsdet.model.device import set_threads

params = load_params()
set_threads(params["train"].get("threads", 0))
test_json = Path("data/splits") / params["split"]["version"] / "test.json"
started = time.time()
metrics, results = evaluate_dataset(Detector.from_checkpoint(Path("models/model.pt")), test_json)
metrics["images"] = len(read_coco(test_json))
metrics["seconds"] = round(time.time() - started, 1)
write_json(Path("data/eval/ground_truth.json"), to_coco_dict(read_coco(test_json)))
write_json(Path("data/eval/predictions.json"), results)
write_json(Path("metrics/eval.json"), metrics)
print(json.dumps(metrics, indent=1))
