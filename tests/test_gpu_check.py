"""`make gpu-check` (bench/gpu_check.py): the no-GPU path, and how a part's process is stopped and recorded.

The GPU parts themselves need a GPU; `python bench/gpu_check.py --cpu-dry-run` walks them on CPU (minutes, so not
in the suite; see README, GPU / full-size settings).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.py"
sys.path.insert(0, str(SCRIPT.parent))
import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the no-GPU path does not apply")
def test_without_a_gpu_it_says_why_in_one_line_writes_nothing_and_exits_0(tmp_path):
    out = tmp_path / "bench_gpu.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu-check skipped: "), run.stdout
    assert "no CUDA GPU" in lines[0] or "CPU-only build" in lines[0]
    assert not out.exists()


def test_a_part_over_its_budget_is_stopped_and_recorded_with_its_log(tmp_path):
    child = "import time; print('working on it', flush=True); time.sleep(120)"
    started = time.monotonic()
    result = gpu_check.run_part(
        [sys.executable, "-c", child], tmp_path / "result.json", tmp_path / "log.txt", budget_s=2
    )
    assert time.monotonic() - started < 2 + gpu_check.STOP_GRACE_S + 5
    assert not result["ok"]
    assert result["error"].startswith("over its 2 s budget: stopped")
    assert "working on it" in result["log_tail"]


def test_a_crashed_part_and_a_failed_check_fail_that_part_with_a_message(tmp_path):
    crashed = gpu_check.run_part(
        [sys.executable, "-c", "import sys; print('cuda error: boom'); sys.exit(3)"],
        tmp_path / "none.json",
        tmp_path / "crash.txt",
        budget_s=60,
    )
    assert not crashed["ok"]
    assert crashed["error"] == "the part's process exited with rc 3 and no result"
    assert crashed["log_tail"] == ["cuda error: boom"]

    result = tmp_path / "result.json"
    write = (
        f"import json; open({str(result)!r}, 'w').write(json.dumps({{'summary': 'ran', "
        f"'checks': {{'replica holds a GPU': 'FAIL', 'trained': 'pass'}}}}))"
    )
    checked = gpu_check.run_part([sys.executable, "-c", write], result, tmp_path / "log.txt", budget_s=60)
    assert not checked["ok"]
    assert checked["error"] == "check failed: replica holds a GPU"


def test_checks_that_hold_only_on_a_gpu_are_not_run_on_cpu():
    checks = gpu_check.Checks(on_gpu=False)
    checks.expect("trained on cuda", False, gpu_only=True)
    checks.expect("a checkpoint was written", True)
    checks.expect("one worker", False)
    assert checks.results == {
        "trained on cuda": gpu_check.NOT_RUN,
        "a checkpoint was written": "pass",
        "one worker": "FAIL",
    }
