"""DVC remote on S3-compatible storage: push data and a model to a real S3 server on loopback, lose the local
cache and workspace copies, pull them back and get the same bytes.

The server is moto's standalone S3 server (from PyPI), started and stopped by this test; DVC talks to it
through dvc-s3 exactly as it would to AWS S3, Huawei OBS or MinIO (only the endpoint URL differs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def s3_endpoint(tmp_path):
    """A real S3 API on 127.0.0.1 with one empty bucket, `rpsdet-store`."""
    port = _free_port()
    log = open(tmp_path / "moto.log", "w")
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import boto3

        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    log = (tmp_path / "moto.log").read_text()
                    raise RuntimeError(f"moto_server did not start: {log}") from None
                time.sleep(0.2)
        boto3.client(
            "s3",
            endpoint_url=url,
            **{k.lower(): v for k, v in S3_ENV.items() if k != "AWS_DEFAULT_REGION"},
            region_name="us-east-1",
        ).create_bucket(Bucket="rpsdet-store")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_push_delete_pull_roundtrip(tmp_path, s3_endpoint):
    from rpsdet.data.synth import write_source

    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, **S3_ENV, "DVC_NO_ANALYTICS": "1"}
    dvc = str(BIN / "dvc")
    _run(["git", "init", "-q"], repo, env)
    _run([dvc, "init", "-q"], repo, env)
    _run([dvc, "config", "--local", "core.site_cache_dir", str(tmp_path / "site_cache")], repo, env)
    _run([dvc, "remote", "add", "-d", "store", "s3://rpsdet-store/dvc"], repo, env)
    _run([dvc, "remote", "modify", "store", "endpointurl", s3_endpoint], repo, env)

    write_source(
        repo / "data" / "raw" / "train",
        prefix="train",
        count=12,
        multi_fraction=0.3,
        seed=1,
        width=96,
        height=72,
        max_hands=3,
    )
    model = repo / "models" / "model.pt"
    model.parent.mkdir()
    model.write_bytes(os.urandom(300_000))  # stands in for any binary artifact: DVC only hashes bytes
    before = {
        "data": _tree_hashes(repo / "data" / "raw" / "train"),
        "model": hashlib.sha256(model.read_bytes()).hexdigest(),
    }
    _run([dvc, "add", "data/raw/train", "models/model.pt"], repo, env)
    pushed = _run([dvc, "push"], repo, env)
    assert "pushed" in pushed, pushed

    import boto3

    keys = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).list_objects_v2(Bucket="rpsdet-store", Prefix="dvc/")
    n_files = len(before["data"]) + 1
    assert keys["KeyCount"] >= n_files, "every file (and the directory manifest) must be in the bucket"

    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "data" / "raw" / "train")
    model.unlink()
    pulled = _run([dvc, "pull"], repo, env)
    assert "fetched" in pulled.lower() or "added" in pulled.lower(), pulled

    assert _tree_hashes(repo / "data" / "raw" / "train") == before["data"]
    assert hashlib.sha256(model.read_bytes()).hexdigest() == before["model"]
    assert "in sync" in _run([dvc, "status", "-c"], repo, env)
