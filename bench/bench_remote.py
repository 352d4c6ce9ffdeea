"""DVC remote round trip on S3-compatible storage: push everything a finished `dvc repro` produced to a real
S3 server on loopback (moto's standalone server), then `dvc pull` it into a fresh clone with an empty cache.
Writes metrics/bench_remote.json and prints a table.

Run it from a project that has run the pipeline (its DVC cache holds the outputs); the clone gets the project's
working dvc.yaml / dvc.lock / params.yaml, so it pulls exactly what was pushed. The remote is configured in
.dvc/config.local of that project for the run only and removed afterwards; nothing else is changed.

Usage: python bench/bench_remote.py [--project .]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info
from rpsdet.files import write_json

BIN = Path(sys.executable).parent
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def start_s3(log: Path) -> tuple[subprocess.Popen, str]:
    """moto_server on a free loopback port, with an empty bucket `rpsdet-store`."""
    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError(f"moto_server did not start; see {log}") from None
            time.sleep(0.2)
    boto3.client(
        "s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).create_bucket(Bucket="rpsdet-store")
    return server, url


def dvc(args: list[str], cwd: Path) -> float:
    """Run one dvc command; seconds it took."""
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "dvc"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **S3_ENV, "DVC_NO_ANALYTICS": "1"},
    )
    if proc.returncode:
        raise RuntimeError(f"dvc {' '.join(args)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - started


def cache_size(cache: Path) -> tuple[int, int]:
    files = [p for p in cache.rglob("*") if p.is_file() and "runs" not in p.parts]
    return len(files), sum(p.stat().st_size for p in files)


def add_remote(project: Path, url: str) -> None:
    dvc(["remote", "add", "--local", "-f", "-d", "bench_s3", "s3://rpsdet-store/dvc"], project)
    dvc(["remote", "modify", "--local", "bench_s3", "endpointurl", url], project)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--project", default=".")
    ap.add_argument("--out", default="metrics/bench_remote.json")
    args = ap.parse_args()
    project = Path(args.project).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server, url = start_s3(tmp / "moto.log")
        try:
            add_remote(project, url)
            try:
                push_s = dvc(["push"], project)
            finally:
                dvc(["remote", "remove", "--local", "bench_s3"], project)
            clone = tmp / "clone"
            subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
            for name in ("dvc.yaml", "dvc.lock", "params.yaml"):  # the workspace's versions, committed or not
                shutil.copyfile(project / name, clone / name)
            dvc(["config", "--local", "core.site_cache_dir", str(tmp / "site_cache")], clone)
            add_remote(clone, url)
            pull_s = dvc(["pull"], clone)
            files, size = cache_size(clone / ".dvc" / "cache")
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "machine": machine_info(),
        "server": "moto_server (S3 API) on 127.0.0.1",
        "cache_files": files,
        "megabytes": round(size / 2**20, 1),
        "push_s": round(push_s, 1),
        "pull_s": round(pull_s, 1),
        "pull_into": "a fresh git clone with an empty DVC cache",
    }
    write_json(Path(args.out), result)
    print(f"{'files':>8} {'MiB':>8} {'push s':>8} {'pull s':>8}")
    print(f"{files:>8} {result['megabytes']:>8} {result['push_s']:>8} {result['pull_s']:>8}")
    print(json.dumps(result["machine"]))


if __name__ == "__main__":
    main()
