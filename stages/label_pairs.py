"""DVC stage: near-duplicate pairs whose labels disagree (no model), right after validation.

Reads data/validated/{train,test}; writes data/label_pairs/ (pairs.csv, review.html, thumbs/) and
metrics/label_pairs.json."""
from pathlib import Path

from rpsdet.data.coco import read_coco
from rpsdet.files import write_json
from rpsdet.label_quality import queue
from rpsdet.label_quality.pairs import find_pairs
from rpsdet.params import load_params

cfg = load_params()["label_quality"]
coco_paths = {side: Path("data/validated") / side / "annotations.json" for side in ("train", "test")}
pairs, unresolved = find_pairs({side: read_coco(p) for side, p in coco_paths.items()}, cfg["pair_iou"])
disagreeing = [p for p in pairs if p.disagreements]
out = Path("data/label_pairs")
rows = queue.write_pairs(out, disagreeing, coco_paths)
queue.write_page(out, "Near-duplicate label disagreements", rows, [])
metrics = {"pairs": len(pairs), "disagreeing": len(disagreeing), "unresolved": unresolved,
           **{relation: {"pairs": sum(p.relation == relation for p in pairs),
                         "disagreeing": sum(p.relation == relation for p in disagreeing)}
              for relation in ("leakage", "near_duplicate")}}
write_json(Path("metrics") / "label_pairs.json", metrics)
print(f"{len(pairs)} near-duplicate pairs, {len(disagreeing)} with disagreeing labels: {out / 'review.html'}")
