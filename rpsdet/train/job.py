"""One training run as a value (picklable, so a Ray worker can carry it), and the backend that runs it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rpsdet.model.pretrained import PretrainedWeightsMissing, fetch, start_point
from rpsdet.train.distributed import Distributed
from rpsdet.train.loop import TrainConfig, resumable_state, train


@dataclass(frozen=True)
class TrainJob:
    cfg: TrainConfig
    train_json: Path
    val_json: Path
    out_path: Path
    state_path: Path | None = None
    live_dir: Path | None = None  # dvclive folder; None = no logging
    live_params: dict[str, Any] = field(default_factory=dict)
    data_version: str = ""

    def absolute(self) -> TrainJob:
        """Paths that still hold in a worker process whose working directory differs from ours (Ray Train moves
        workers into a folder of their own): data, outputs, and the checkpoint training starts from (init_from,
        or the synthetic pretraining, passed on as an absolute init_from)."""

        def resolve(path: Path | None) -> Path | None:
            return None if path is None else Path(path).resolve()

        start = start_point(self.cfg.pretrained, self.cfg.init_from).checkpoint
        cfg = replace(self.cfg, init_from=str(resolve(start))) if start else self.cfg
        return TrainJob(
            cfg,
            resolve(self.train_json),
            resolve(self.val_json),
            resolve(self.out_path),
            resolve(self.state_path),
            resolve(self.live_dir),
            self.live_params,
            self.data_version,
        )


# What the pretraining shares with `train:` (round 1 loads its weights: same network; where it runs); the recipe
# is pretrain.train's alone, on TrainConfig's defaults, so tuning train.* never reruns the pretraining.
PRETRAIN_SHARED = (
    "arch",
    "image_size",
    "threads",
    "device",
    "loader_workers",
    "run_on",
    "ray_workers",
    "use_gpu",
    "ray_address",
)


def pretrain_params(train: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """The pretraining's train params; starting from its own output (pretrained: synthetic) is refused."""
    params = {**{k: train[k] for k in PRETRAIN_SHARED if k in train}, **recipe}
    if params.get("pretrained") == "synthetic":
        print(
            "pretrain: pretrain.train.pretrained: synthetic would start from this stage's own output; use none, "
            "imagenet or coco",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return params


def checked_config(train_params: dict[str, Any], stage: str) -> TrainConfig:
    """The stage's TrainConfig with its starting weights in their cache (fetched here, once, before any Ray worker
    starts). Bad params or weights missing offline: one line on stderr and exit code 2, not a traceback."""
    try:
        cfg = TrainConfig.from_params(train_params)
        fetch(start_point(cfg.pretrained, cfg.init_from).weights, cfg.arch)
    except (ValueError, PretrainedWeightsMissing) as exc:
        print(f"{stage}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return cfg


def run_job(job: TrainJob, dist: Distributed | None = None) -> dict[str, Any]:
    """Train, with dvclive opened by this process only if it is the one that logs (rank 0, or alone)."""
    args = (job.cfg, job.train_json, job.val_json, job.out_path)
    if job.live_dir is None or (dist is not None and not dist.main):
        return train(*args, data_version=job.data_version, state_path=job.state_path, dist=dist)
    from dvclive import Live

    resuming = resumable_state(job.state_path, job.cfg) is not None
    with Live(str(job.live_dir), dvcyaml=None, save_dvc_exp=False, resume=resuming) as live:
        live.log_params(job.live_params)
        summary = train(*args, live=live, data_version=job.data_version, state_path=job.state_path, dist=dist)
        for key, value in summary.items():
            if isinstance(value, (int, float)):
                live.summary[key] = value
    return summary
