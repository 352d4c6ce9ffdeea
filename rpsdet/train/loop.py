"""Train an EfficientDet from params: warmup + cosine, EMA weights, best checkpoint by val mAP, resumable.

The run lasts train.epochs, or train.max_minutes of training time when that is set (schedule.TimeBudget).

One loop for every backend: alone in this process, or as one rank of a DDP group (pass `dist`).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from effdet import DetBenchTrain
from timm.utils import ModelEmaV3
from torch.utils.data import DataLoader
from tqdm import tqdm

from rpsdet.classes import CLASS_NAMES
from rpsdet.evaluate.inference import evaluate_dataset
from rpsdet.model.checkpoint import load_checkpoint, read_torch_file, save_checkpoint
from rpsdet.model.device import pick_device, set_threads
from rpsdet.model.factory import build_effdet, resize_effdet
from rpsdet.model.predict import Detector
from rpsdet.model.pretrained import check_start, start_point
from rpsdet.model.speed import use_channels_last
from rpsdet.model.targets import to_effdet_targets
from rpsdet.progress import on_terminal
from rpsdet.train.dataset import CACHE_MODES, DetectionDataset, collate
from rpsdet.train.distributed import Distributed
from rpsdet.train.precise_bn import precise_bn_loader, recompute_bn_stats
from rpsdet.train.schedule import TimeBudget, warmup_cosine
from rpsdet.train.transforms import train_transform

OPTIMIZERS = ("adamw", "sgd")
RUN_ON = ("local", "ray")


@dataclass
class TrainConfig:
    """Every training knob; params.yaml `train:` maps onto these fields one to one."""

    arch: str = "efficientdet_d0"
    image_size: int = 192
    norm: str = "group"
    precise_bn_images: int = 0  # norm batch: BN statistics recomputed over this many train images per eval; 0 = off
    epochs: int = 20
    max_minutes: float | None = None  # time budget for training (steps + loading); set, it ends the run, not epochs
    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.02
    clip_grad: float = 10.0
    ema_decay: float = 0.998
    scale_jitter: float = 0.25
    color_jitter: float = 0.3
    mosaic: float = 0.0  # probability of a 2x2 mosaic with three other training images (multi-hand scenes)
    # Progressive size: the first progressive_fraction of the run (of its epochs, or of train.max_minutes) trains at
    # progressive_size px, the rest at image_size; 0 = off. Small steps early buy more steps (README).
    progressive_size: int = 0
    progressive_fraction: float = 0.4
    eval_every: int = 2
    early_stop_patience: int = 0  # evaluations without improvement before stopping; 0 = never stop early
    seed: int = 0
    loader_workers: int = 0  # DataLoader processes feeding this training process (0 = load in it)
    cache: str = "none"  # none: decode each image at the input size every step; ram: decode all once, keep them
    threads: int = 0  # 0 = every core this process may use
    device: str = "auto"
    resume: bool = True  # continue an interrupted run from its last epoch when the config is unchanged
    init_from: str | None = None  # "tune again": warm start from an earlier rpsdet checkpoint (wins over pretrained)
    pretrained: str = "none"  # none | synthetic | imagenet | coco: where training starts (rpsdet/model/pretrained.py)
    backbone_weights: str | None = None  # a local timm backbone state dict, for users who have one
    run_on: str = "local"  # local: this process; ray: Ray Train TorchTrainer, DDP over ray_workers processes
    ray_workers: int = 2  # ray: DDP ranks; batch_size stays the global batch (not DataLoader `loader_workers`)
    use_gpu: bool | str = "auto"  # ray: one GPU per worker; "auto" = when the cluster has one for every worker
    ray_address: str | None = None  # ray: cluster to join; None = $RAY_ADDRESS, else a private local Ray

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown train params {unknown}; known: {sorted(known)}")
        cfg = cls(**params)
        if cfg.optimizer not in OPTIMIZERS:
            raise ValueError(f"train.optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")
        if not 0.0 <= cfg.mosaic <= 1.0:
            raise ValueError(f"train.mosaic is a probability in [0, 1], got {cfg.mosaic!r}")
        if cfg.run_on not in RUN_ON:
            raise ValueError(f"train.run_on must be one of {RUN_ON}, got {cfg.run_on!r}")
        if cfg.ray_workers < 1 or cfg.use_gpu not in (True, False, "auto"):
            raise ValueError(
                f"train.ray_workers must be >= 1 and train.use_gpu true, false or auto; got "
                f"{cfg.ray_workers!r}, {cfg.use_gpu!r}"
            )
        if cfg.run_on == "ray" and cfg.batch_size % cfg.ray_workers:
            raise ValueError(
                f"train.batch_size={cfg.batch_size} must divide by train.ray_workers={cfg.ray_workers}: "
                f"it is the global batch, split between the workers"
            )
        if cfg.progressive_size and not (0 < cfg.progressive_size < cfg.image_size and cfg.progressive_size % 32 == 0):
            raise ValueError(
                f"train.progressive_size is the early input size, a multiple of 32 below train.image_size="
                f"{cfg.image_size} (0 = off), got {cfg.progressive_size!r}"
            )
        if not 0 < cfg.progressive_fraction < 1:
            raise ValueError(
                f"train.progressive_fraction is a share of the run in (0, 1), got {cfg.progressive_fraction!r}"
            )
        if cfg.progressive_size and not cfg.max_minutes and cfg.epochs < 2:
            raise ValueError("train.progressive_size needs train.epochs >= 2 (or train.max_minutes) to switch sizes")
        if cfg.progressive_size and cfg.run_on == "ray":
            raise ValueError("train.progressive_size works with run_on: local only (set progressive_size: 0 for ray)")
        if cfg.precise_bn_images < 0:
            raise ValueError(f"train.precise_bn_images is a number of images (0 = off), got {cfg.precise_bn_images!r}")
        check_start(cfg.pretrained, cfg.norm, cfg.init_from, cfg.backbone_weights)
        if cfg.cache not in CACHE_MODES:
            raise ValueError(f"train.cache must be one of {CACHE_MODES}, got {cfg.cache!r}")
        if cfg.max_minutes is not None and cfg.max_minutes < 0:
            raise ValueError(
                f"train.max_minutes is a time budget in minutes (null or 0 = off), got {cfg.max_minutes!r}"
            )
        if cfg.init_from and not Path(cfg.init_from).is_file():
            raise ValueError(
                f"train.init_from {cfg.init_from} does not exist. A stage's own output is deleted "
                f"before it reruns: copy the checkpoint elsewhere first (see README, Tuning)"
            )
        return cfg


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resumable_state(state_path: Path | None, cfg: TrainConfig) -> dict[str, Any] | None:
    """The saved state of an interrupted run with the same config, else None (start fresh)."""
    if not cfg.resume or state_path is None or not Path(state_path).is_file():
        return None
    state = read_torch_file(state_path)  # weights_only: tensors and plain data
    if state.get("train") != asdict(cfg):
        return None
    if cfg.max_minutes:
        finished = state.get("train_seconds", 0.0) >= 60.0 * cfg.max_minutes
    else:
        finished = state.get("epoch", 0) >= cfg.epochs
    return None if finished else state


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
        )
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


@dataclass
class Run:
    """One training run's parts and progress: what build_run makes and the pieces below share."""

    cfg: TrainConfig
    dist: Distributed | None
    device: torch.device
    threads: int
    model: torch.nn.Module
    step_module: torch.nn.Module  # DetBenchTrain, DDP-wrapped on a rank
    loader: DataLoader
    shuffle: torch.Generator
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    ema: ModelEmaV3 | None
    budget: TimeBudget | None
    ckpt_config: dict[str, Any]
    total_steps: int
    precise_bn: DataLoader | None  # norm batch: the images whose statistics replace BN's before each evaluation
    train_json: Path
    size: int  # the input size now: train.progressive_size early in a progressive run, else image_size
    best: dict[str, Any] = field(default_factory=lambda: {"map": -1.0, "map50": -1.0, "epoch": 0, "state_dict": None})
    evals_since_best: int = 0
    step: int = 0
    batches: int = 0  # this rank's, this process's
    first_epoch: int = 1
    train_seconds: float = 0.0

    @property
    def main(self) -> bool:
        return self.dist is None or self.dist.main

    @property
    def eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model


def _build_model(cfg: TrainConfig, device: torch.device, size: int) -> tuple[torch.nn.Module, torch.nn.Module, Any]:
    """The network where training starts (random, pretrained or a warm checkpoint) and its training bench."""
    start = start_point(cfg.pretrained, cfg.init_from)
    model = build_effdet(cfg.arch, size, len(CLASS_NAMES), cfg.norm, cfg.backbone_weights, start.weights)
    if start.checkpoint:
        warm, warm_cfg, _ = load_checkpoint(start.checkpoint)
        if (warm_cfg["arch"], warm_cfg["norm"]) != (cfg.arch, cfg.norm):
            raise ValueError(
                f"{start.checkpoint} is {warm_cfg['arch']}/{warm_cfg['norm']}, but train asks for {cfg.arch}/{cfg.norm}"
            )
        model.load_state_dict(warm.state_dict())
    use_channels_last(model, device)  # NHWC convolutions: faster steps on CPU, same maths (bench/bench_speed.py)
    return model, DetBenchTrain(model).to(device).train(), start


def _build_loader(
    cfg: TrainConfig, train_json: Path, dist: Distributed | None, size: int
) -> tuple[DataLoader, torch.Generator]:
    dataset = DetectionDataset(
        train_json, train_transform(size, cfg.scale_jitter, cfg.color_jitter, cfg.mosaic), size, cfg.cache
    )
    if len(dataset) < cfg.batch_size:
        raise ValueError(f"{train_json} has {len(dataset)} images, fewer than train.batch_size={cfg.batch_size}")
    shuffle = torch.Generator()
    loader_args = {
        "collate_fn": collate,
        "num_workers": cfg.loader_workers,
        "persistent_workers": cfg.loader_workers > 0,
    }
    if dist is not None:
        return dist.loader(dataset, cfg.batch_size, cfg.seed, **loader_args), shuffle
    return DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=True, drop_last=True, generator=shuffle, **loader_args
    ), shuffle


def build_run(cfg: TrainConfig, *, train_json: Path, data_version: str, dist: Distributed | None) -> Run:
    """Seed, place, build the model, data, optimizer, schedule and EMA: a fresh run at step 0."""
    seed_everything(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    device = dist.device if dist is not None else pick_device(cfg.device)
    threads = set_threads(dist.threads if dist is not None else cfg.threads)
    size = cfg.progressive_size or cfg.image_size
    model, bench, start = _build_model(cfg, device, size)
    step_module = dist.wrap(bench) if dist is not None else bench
    loader, shuffle = _build_loader(cfg, train_json, dist, size)
    total_steps = cfg.epochs * len(loader)
    budget = TimeBudget(cfg.max_minutes, cfg.warmup_steps, cfg.min_lr_ratio) if cfg.max_minutes else None
    optimizer = _optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        (lambda s: budget.lr_factor(s))
        if budget is not None
        else (lambda s: warmup_cosine(s, total_steps, cfg.warmup_steps, cfg.min_lr_ratio)),
    )
    ema = ModelEmaV3(model, decay=cfg.ema_decay, use_warmup=True) if cfg.ema_decay > 0 else None
    precise_bn = (
        precise_bn_loader(train_json, cfg.image_size, cfg.precise_bn_images, cfg.batch_size, cfg.seed)
        if cfg.norm == "batch" and cfg.precise_bn_images and (dist is None or dist.main)
        else None
    )
    ckpt_config = {
        "arch": cfg.arch,
        "image_size": cfg.image_size,
        "norm": cfg.norm,
        "class_names": list(CLASS_NAMES),
        "train": asdict(cfg),
        "data_version": data_version,
        "started_from": start.describe(),
    }
    return Run(
        cfg,
        dist,
        device,
        threads,
        model,
        step_module,
        loader,
        shuffle,
        optimizer,
        scheduler,
        ema,
        budget,
        ckpt_config,
        total_steps,
        precise_bn,
        train_json,
        size,
    )


def resume(run: Run, *, state_path: Path | None, out_path: Path) -> None:
    """Continue an interrupted run with the same config from its saved state (else leave `run` fresh); the best
    checkpoint so far is written again, as a finished epoch left it."""
    cfg, state = run.cfg, resumable_state(state_path, run.cfg)
    if state is not None:
        run.model.load_state_dict(state["model"])
        if run.ema is not None:
            run.ema.module.load_state_dict(state["ema"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        run.best, run.evals_since_best, run.step = state["best"], state["evals_since_best"], state["step"]
        run.train_seconds = state.get("train_seconds", 0.0)
        run.first_epoch = state["epoch"] + 1
        if run.best["state_dict"] is not None and run.main:
            save_checkpoint(
                out_path,
                _with_weights(run.eval_model, run.best["state_dict"]),
                run.ckpt_config,
                {"epoch": run.best["epoch"]},
            )
            run.eval_model.load_state_dict(state["ema"] if run.ema is not None else state["model"])
        if run.main:
            print(
                f"resuming after epoch {state['epoch']} ({state_path}): "
                + (
                    f"{run.train_seconds / 60:.2f} of train.max_minutes={cfg.max_minutes:g} spent"
                    if run.budget is not None
                    else f"{cfg.epochs - state['epoch']} of {cfg.epochs} epochs left"
                )
            )
    if run.budget is not None:
        run.budget.spent_s = run.train_seconds


def input_size(run: Run, epoch: int) -> int:
    """The input size for `epoch`: train.progressive_size during the first progressive_fraction of the run (of
    its epochs, or of its time budget: the switch then comes mid-epoch), image_size after."""
    cfg = run.cfg
    if not cfg.progressive_size:
        return cfg.image_size
    if run.budget is not None:
        small = run.train_seconds < cfg.progressive_fraction * run.budget.seconds
    else:
        small = epoch <= min(cfg.epochs - 1, max(1, round(cfg.progressive_fraction * cfg.epochs)))
    return cfg.progressive_size if small else cfg.image_size


def set_input_size(run: Run, size: int) -> None:
    """Train at `size` from now on: the networks (trained and EMA) are resized in place, so the optimizer, the lr
    schedule and the EMA carry on; effdet's anchors and the loader are rebuilt for the new size."""
    resize_effdet(run.model, size, run.cfg.norm)
    if run.ema is not None:
        resize_effdet(run.ema.module, size, run.cfg.norm)
    run.step_module = DetBenchTrain(run.model).to(run.device).train()
    run.loader, run.shuffle = _build_loader(run.cfg, run.train_json, run.dist, size)
    run.size = size


def _train_step(run: Run, images: torch.Tensor, boxes: list, labels: list) -> dict[str, torch.Tensor]:
    """Forward, backward, clip, optimizer and EMA: one step of the global batch."""
    device = run.device
    targets = {k: v.to(device) for k, v in to_effdet_targets(boxes, labels, run.size).items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        out = run.step_module(images.to(device), targets)
    run.optimizer.zero_grad(set_to_none=True)
    out["loss"].backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.clip_grad)
    run.optimizer.step()
    run.step += 1
    run.batches += 1
    if run.ema is not None:
        run.ema.update(run.model, step=run.step)
    return out


def train_epoch(run: Run, epoch: int, progress: tqdm) -> dict[str, float]:
    """One epoch (or what the time budget leaves of it); returns its mean losses and last lr."""
    cfg, dist, budget = run.cfg, run.dist, run.budget
    # The same batches and augmentations (DetectionDataset seeds each item from `random`) whether or not the
    # run was resumed.
    random.seed(cfg.seed * 1000 + epoch)
    if dist is not None:
        run.loader.sampler.set_epoch(epoch)
    else:
        run.shuffle.manual_seed(cfg.seed * 1000 + epoch)
    sums = {"loss": 0.0, "class_loss": 0.0, "box_loss": 0.0}
    epoch_batches = 0
    tick = time.perf_counter()
    for images, boxes, labels in run.loader:
        out = _train_step(run, images, boxes, labels)
        epoch_batches += 1
        for key in sums:
            sums[key] += out[key].item()
        now = time.perf_counter()
        run.train_seconds += now - tick  # this step and the loading of its batch
        tick = now
        if budget is not None:
            if dist is not None:  # rank 0's clock on every rank: one lr for all, and one last step
                run.train_seconds = dist.main_value(run.train_seconds)
            budget.spent_s = run.train_seconds
        run.scheduler.step()
        progress.update(1)
        progress.set_postfix(
            epoch=epoch,
            loss=f"{out['loss'].item():.3f}",
            refresh=False,
            **({"left": f"{budget.left_s / 60:.1f}min"} if budget is not None else {}),
        )
        if budget is not None and (budget.exhausted or input_size(run, epoch) != run.size):
            break
    if dist is not None:
        sums = dist.mean(sums)
    stats = {f"train/{k}": v / epoch_batches for k, v in sums.items()}
    stats["train/lr"] = run.scheduler.get_last_lr()[0]
    return stats


def evaluate_and_save(
    run: Run, epoch: int, stats: dict[str, float], *, val_json: Path, out_path: Path, progress: tqdm
) -> None:
    """Val mAP of the EMA weights (rank 0 only) into `stats`; a new best is saved at `out_path`.

    With norm batch and train.precise_bn_images, the evaluated weights' BN statistics are first recomputed
    (rpsdet/train/precise_bn.py): what is scored is what is saved.
    """
    if run.precise_bn is not None:
        recompute_bn_stats(run.eval_model, run.precise_bn, run.device)
    detector = Detector(run.eval_model, run.cfg.image_size, list(CLASS_NAMES), str(run.device))
    metrics, _ = evaluate_dataset(detector, val_json, show_progress=False)  # the training bar reports
    run.model.train()
    stats.update({"val/map": metrics["map"], "val/map50": metrics["map50"]})
    progress.write(
        f"epoch {epoch}: loss {stats['train/loss']:.3f} val mAP {metrics['map']:.3f} mAP50 {metrics['map50']:.3f}"
    )
    if metrics["map"] > run.best["map"]:
        run.best = {
            "map": metrics["map"],
            "map50": metrics["map50"],
            "epoch": epoch,
            "state_dict": {k: v.detach().clone() for k, v in run.eval_model.state_dict().items()},
        }
        save_checkpoint(out_path, run.eval_model, run.ckpt_config, {"val_metrics": metrics, "epoch": epoch})
        run.evals_since_best = 0
    else:
        run.evals_since_best += 1


def _should_stop(run: Run, epoch: int, stats: dict[str, float], stop_when: Callable | None, progress: tqdm) -> bool:
    """Early stopping (train.early_stop_patience) or the caller's `stop_when`; rank 0 decides for every rank."""
    cfg = run.cfg
    if not (cfg.early_stop_patience or stop_when is not None):
        return False
    patience_out = bool(cfg.early_stop_patience) and run.evals_since_best >= cfg.early_stop_patience
    stop = patience_out or (
        run.main and stop_when is not None and stop_when(epoch, {**stats, "train_seconds": run.train_seconds})
    )
    if run.dist is not None:
        stop = run.dist.agree(stop)  # only rank 0 evaluates: its decision holds for every rank
    if stop and run.main:
        progress.write(
            f"early stop: no val mAP gain in {run.evals_since_best} evaluations"
            if patience_out
            else f"stopped after epoch {epoch} by stop_when"
        )
    return stop


def train(
    cfg: TrainConfig,
    train_json: Path,
    val_json: Path,
    out_path: Path,
    *,
    live=None,
    data_version: str = "",
    state_path: Path | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    dist: Distributed | None = None,
    stop_when: Callable[[int, dict[str, float]], bool] | None = None,
) -> dict[str, Any]:
    """Train, evaluate on val every `eval_every` epochs, keep the best EMA weights at `out_path`.

    After every epoch the full state goes to `state_path`, so an interrupted run continues where it stopped;
    with train.max_minutes it continues with the budget that is left (the state holds the seconds spent). A run
    whose budget runs out mid-epoch stops after that step, evaluates, saves and writes its state.
    With `dist`, this process is one DDP rank: it trains on its shard, and only rank 0 evaluates, writes
    `out_path` / `state_path` and logs to `live`.
    `stop_when(epoch, stats)` ends training when it returns True; `stats` are the epoch's logged metrics plus
    `train_seconds` (time in training steps and data loading so far, resumed runs included, evaluation
    excluded). Rank 0 decides.
    """
    run = build_run(cfg, train_json=train_json, data_version=data_version, dist=dist)
    resume(run, state_path=state_path, out_path=out_path)
    started, first_step, resumed_seconds = time.time(), run.step, run.train_seconds
    # Off a terminal the epoch lines are the log.
    progress = tqdm(
        total=None if run.budget is not None else run.total_steps,
        initial=run.step,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        mininterval=5,
        disable=not (run.main and on_terminal()),
    )
    epochs = itertools.count(run.first_epoch) if run.budget is not None else range(run.first_epoch, cfg.epochs + 1)
    for epoch in epochs:
        if input_size(run, epoch) != run.size:
            set_input_size(run, input_size(run, epoch))
            if run.main:
                progress.write(f"train.progressive_size: training at {run.size} px from step {run.step}")
        stats = train_epoch(run, epoch, progress)
        last = run.budget.exhausted if run.budget is not None else epoch == cfg.epochs
        if run.main and run.budget is not None and last:
            progress.write(
                f"train.max_minutes={cfg.max_minutes:g} spent after {run.step} steps (in epoch {epoch}); "
                f"lr at its floor {stats['train/lr']:.2e}; last evaluation"
            )
        # Evaluated (and saved) at image_size only: a progressive run's early epochs are not scored.
        if run.main and run.size == cfg.image_size and (epoch % cfg.eval_every == 0 or last):
            evaluate_and_save(run, epoch, stats, val_json=val_json, out_path=out_path, progress=progress)
        if live is not None:
            for key, value in stats.items():
                live.log_metric(key, value)
            live.next_step()
        if state_path is not None and run.main:
            _save_state(state_path, run, epoch)
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if _should_stop(run, epoch, stats, stop_when, progress) or last:
            break
    progress.close()
    return {
        "best_val_map": run.best["map"],
        "best_val_map50": run.best["map50"],
        "best_epoch": run.best["epoch"],
        "epochs_run": epoch,
        "steps": run.step,
        "seconds": round(time.time() - started, 1),
        "threads": run.threads,
        "device": str(run.device),
        "world_size": dist.world_size if dist is not None else 1,
        "rank_batches": run.batches,
        "train_seconds": round(run.train_seconds, 2),
        "images_per_s": round((run.step - first_step) * cfg.batch_size / (run.train_seconds - resumed_seconds), 2)
        if run.train_seconds > resumed_seconds
        else 0.0,
    }


def _with_weights(module: torch.nn.Module, state_dict: dict) -> torch.nn.Module:
    module.load_state_dict(state_dict)
    return module


def _save_state(path: Path, run: Run, epoch: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(
        {
            "train": asdict(run.cfg),
            "epoch": epoch,
            "step": run.step,
            "train_seconds": run.train_seconds,
            "model": run.model.state_dict(),
            "ema": run.ema.module.state_dict() if run.ema is not None else None,
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "best": run.best,
            "evals_since_best": run.evals_since_best,
        },
        tmp,
    )
    tmp.replace(path)  # an interruption mid-write leaves the previous state intact
