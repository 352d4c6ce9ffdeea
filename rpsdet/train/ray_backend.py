"""train.run_on: ray — Ray Train's TorchTrainer runs the shared loop as ray_workers DDP ranks.

Ray Train starts the process group (gloo on CPU, nccl on GPU); each worker calls `run_job` with a `Distributed`
whose `wrap` is `ray.train.torch.prepare_model` (DDP). Rank 0 writes the checkpoint, the resume state and the
dvclive metrics to the job's (absolute) paths, so on a multi-node cluster the project folder must be on storage
every node sees (as Ray's own storage_path must be).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rpsdet.ray_cluster import cluster_address, start_ray
from rpsdet.train.distributed import Distributed
from rpsdet.train.job import TrainJob, run_job


def worker_threads(cfg_threads: int, cluster_cpus: float, num_workers: int) -> int:
    """Torch threads (and reserved CPUs) per worker: train.threads, else an even share of the cluster's CPUs.

    Ray sets OMP_NUM_THREADS to a worker's CPU count (1 when it has none): reserving exactly the cores a
    worker uses keeps both in step and stops workers from fighting over cores.
    """
    return cfg_threads or max(1, int(cluster_cpus) // num_workers)


def _use_gpu(setting: bool | str, cluster_gpus: float, num_workers: int) -> bool:
    if setting == "auto":
        return cluster_gpus >= num_workers
    return bool(setting)


def _worker(config: dict[str, Any]) -> dict[str, Any]:
    """One rank: train through the shared loop, then tell the driver which ranks took part and what each did."""
    import ray
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    dist = Distributed(
        rank=context.get_world_rank(),
        world_size=context.get_world_size(),
        device=ray.train.torch.get_device(),
        threads=config["threads"],
        wrap=ray.train.torch.prepare_model,
    )
    summary = run_job(config["job"], dist)
    summary["ranks"] = dist.gather(
        {
            "rank": dist.rank,
            "batches": summary["rank_batches"],
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "threads": summary["threads"],
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "logged": config["job"].live_dir is not None and dist.main,
        }
    )
    return summary  # Ray Train hands rank 0's return value to the driver


def run_on_ray(job: TrainJob) -> dict[str, Any]:
    """Join train.ray_address / $RAY_ADDRESS or start a private local Ray, train there, and leave no Ray behind."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    cfg = job.cfg
    temp_dir = start_ray(cluster_address(cfg.ray_address))
    storage = Path(tempfile.mkdtemp(prefix="rpsdet-ray-train-"))  # Ray Train's run records; our outputs are ours
    try:
        resources = ray.cluster_resources()
        threads = worker_threads(cfg.threads, resources.get("CPU", 1), cfg.ray_workers)
        use_gpu = _use_gpu(cfg.use_gpu, resources.get("GPU", 0), cfg.ray_workers)
        trainer = TorchTrainer(
            _worker,
            train_loop_config={"job": job.absolute(), "threads": threads},
            scaling_config=ScalingConfig(
                num_workers=cfg.ray_workers, use_gpu=use_gpu, resources_per_worker={"CPU": threads}
            ),
            run_config=RunConfig(name="rpsdet-train", storage_path=str(storage)),
        )
        result = trainer.fit()
    finally:
        ray.shutdown()
        shutil.rmtree(storage, ignore_errors=True)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    summary = dict(result.return_value)
    if not Path(job.out_path).is_file():
        raise RuntimeError(
            f"rank 0 trained on node {summary['ranks'][0]['node']} but {job.out_path} is not here: "
            f"on a multi-node cluster the project folder must be on storage every node shares"
        )
    return {**summary, "backend": "ray", "use_gpu": use_gpu}
