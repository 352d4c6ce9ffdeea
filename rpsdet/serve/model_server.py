"""The model deployment: weights loaded once per replica, warmed up, requests batched by `@serve.batch`."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import serve

from rpsdet.model.device import set_threads
from rpsdet.model.predict import Detector


@serve.deployment(name="model")
class ModelServer:
    def __init__(self, checkpoint: str, info: dict[str, Any], threads: int, device: str, max_batch_size: int,
                 batch_wait_timeout_s: float, min_score: float, backend: str = "auto"):
        self.threads = set_threads(threads)  # Ray gives a num_cpus=1 replica OMP_NUM_THREADS=1 otherwise
        self.detector = Detector.from_checkpoint(Path(checkpoint), device, backend)
        self.min_score = min_score
        # Which replica on which Ray node answered: lets users (and the cluster test) see the load spread.
        self.replica = {"id": serve.get_replica_context().replica_id.unique_id,
                        "node": ray.get_runtime_context().get_node_id()}
        self.info_dict = {**info, "device": device, "threads": self.threads, "max_batch_size": max_batch_size,
                          "backend": self.detector.backend}
        self.detect.set_max_batch_size(max_batch_size)
        self.detect.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self._warm_up(max_batch_size)

    def _warm_up(self, max_batch_size: int) -> None:
        """First calls are ~10x slower (TorchScript profiling of the NMS code, ONNX Runtime's first run): pay for
        them before the first user does."""
        image = np.zeros((self.detector.image_size, self.detector.image_size, 3), np.uint8)
        for size in sorted({1, max_batch_size}):
            for _ in range(2):
                self.detector.predict([image] * size)

    async def info(self) -> dict[str, Any]:
        return self.info_dict

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01)  # real values come from params in __init__
    async def detect(self, images: list[np.ndarray]) -> list[dict[str, Any]]:
        """One forward pass for the whole batch, in a worker thread so the next batch keeps queueing."""
        started = time.perf_counter()
        results = await asyncio.to_thread(self.detector.predict, images, self.min_score)
        model_ms = 1000 * (time.perf_counter() - started)
        return [{"detections": [{"box": list(d.box), "score": d.score, "label": d.label} for d in dets],
                 "model_ms": model_ms, "batch_size": len(images), "replica": self.replica} for dets in results]
