"""Run a trained detector on RGB images and get boxes back in each image's own pixels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from effdet import DetBenchPredict, EfficientDet

from rpsdet.model.checkpoint import load_checkpoint
from rpsdet.model.preprocess import inference_transform


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # xyxy, original image pixels
    score: float
    label: int  # 0-based


class Detector:
    """Letterbox, forward, un-letterbox. Build from a checkpoint file or a model in memory."""

    def __init__(self, model: EfficientDet, image_size: int, class_names: list[str], device: str = "cpu"):
        self.bench = DetBenchPredict(model).eval().to(device)
        self.image_size = image_size
        self.class_names = list(class_names)
        self.device = device
        self._transform = inference_transform(image_size)

    @classmethod
    def from_checkpoint(cls, path: Path, device: str = "cpu") -> "Detector":
        model, cfg, _ = load_checkpoint(path)
        return cls(model, cfg["image_size"], cfg["class_names"], device)

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray], score_threshold: float = 0.0) -> list[list[Detection]]:
        """images: HxWx3 uint8 RGB arrays of any size. Boxes are clipped to each image."""
        if not images:
            return []
        batch = torch.stack([torch.from_numpy(self._transform(image=im)["image"]).permute(2, 0, 1) for im in images])
        scales = [min(self.image_size / im.shape[1], self.image_size / im.shape[0]) for im in images]
        img_info = {
            "img_scale": torch.tensor([1.0 / s for s in scales], dtype=torch.float32, device=self.device),
            "img_size": torch.tensor([[im.shape[1], im.shape[0]] for im in images], dtype=torch.float32,
                                     device=self.device),
        }
        out = self.bench(batch.to(self.device), img_info=img_info).cpu().numpy()
        results = []
        for rows in out:
            dets = [Detection(tuple(float(v) for v in r[:4]), float(r[4]), int(r[5]) - 1)
                    for r in rows if r[4] > max(score_threshold, 0.0) and r[2] > r[0] and r[3] > r[1]]
            results.append(dets)
        return results
