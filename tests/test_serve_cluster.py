"""`rpsdet serve --address` deploys onto an existing two-node Ray cluster: one replica per node, both answer.

The cluster is two real Ray nodes on loopback (ray.cluster_utils.Cluster); the CLI runs as its own process, joins,
deploys, and on SIGTERM removes only its app, leaving the cluster up.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml

from rpsdet.data.coco import image_path, read_coco
from rpsdet.serve.auth import UserStore

pytestmark = pytest.mark.slow
PASSWORD = "correct horse"
NODE_CPUS = 2
REPLICA_CPUS = 1.5  # two replicas cannot share a 2-CPU node: Ray must put one on each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # Ray's session files and its "current cluster" address file go here, not to the machine-wide /tmp/ray
    # (short: Ray's socket paths must fit). The CLI process inherits it.
    temp_dir = Path(tempfile.mkdtemp(prefix="rpsdet-cl-", dir="/tmp"))
    monkeypatch.setenv("RAY_TMPDIR", str(temp_dir))
    from ray.cluster_utils import Cluster

    node = {"num_cpus": NODE_CPUS, "node_ip_address": "127.0.0.1", "object_store_memory": 200 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> list[str]:
    """Read the CLI's output until `text` shows up (or fail with everything it said)."""
    lines, deadline = [], time.time() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line)
            if text in line:
                return lines
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.2)
    raise AssertionError(f"no {text!r} from `rpsdet serve` (exit {proc.poll()}):\n" + "".join(lines[-60:]))


def test_serve_joins_a_two_node_cluster_and_both_replicas_answer(cluster, tiny_checkpoint, tiny_splits, tmp_path):
    import ray

    port = free_port()
    UserStore(tmp_path / "users.json").add("alice", PASSWORD)
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "serve": {
                    "port": port,
                    "replicas": 2,
                    "cpus_per_replica": REPLICA_CPUS,
                    "threads_per_replica": 1,
                    "num_gpus": 0,
                    "max_batch_size": 1,
                    "score_threshold": 0.0,
                    "proxy_location": "HeadOnly",
                    "users_file": str(tmp_path / "users.json"),
                    "secret_file": str(tmp_path / "secret"),
                    "limits": {"requests_per_minute": 6000, "burst": 100},
                }
            }
        )
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("rpsdet")),
            "serve",
            "--checkpoint",
            str(tiny_checkpoint),
            "--address",
            cluster.address,
            "--params",
            str(params),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_line(proc, "serving model", timeout=240)
        url = f"http://127.0.0.1:{port}"
        token = requests.post(
            f"{url}/api/v1/login", json={"username": "alice", "password": PASSWORD}, timeout=30
        ).json()["token"]
        test_json = tiny_splits / "test.json"
        jpeg = image_path(test_json, read_coco(test_json)[0]).read_bytes()

        def detect(_):
            r = requests.post(
                f"{url}/api/v1/detect",
                data=jpeg,
                timeout=60,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
            )
            assert r.status_code == 200, r.text
            return r.json()["replica"]

        with ThreadPoolExecutor(4) as pool:
            answered = list(pool.map(detect, range(32)))
        replicas = {a["id"] for a in answered}
        nodes = {a["node"] for a in answered}
        assert len(replicas) == 2 and len(nodes) == 2, answered
        # The replicas ran on the test's own two nodes: the CLI joined this cluster and started none of its own.
        ray.init(address=cluster.address)
        try:
            assert nodes == {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        finally:
            ray.shutdown()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    # Its app is gone, the cluster is not.
    ray.init(address=cluster.address)
    try:
        from ray import serve

        assert "rpsdet" not in serve.status().applications
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        serve.shutdown()  # the Serve controller the CLI started on the cluster
    finally:
        ray.shutdown()
