"""Run a training job where its config says (train.run_on): in this process, or as DDP ranks on Ray. Both
backends import the job from rpsdet.train.job, and only this module knows both: no import cycle."""

from __future__ import annotations

from typing import Any

from rpsdet.train.job import TrainJob, run_job
from rpsdet.train.ray_backend import run_on_ray


def fit(job: TrainJob) -> dict[str, Any]:
    return run_on_ray(job) if job.cfg.run_on == "ray" else run_job(job)
