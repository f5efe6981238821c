"""ray on a two-node cluster (``ray.cluster_utils.Cluster``, one CPU per node): a streaming
word count loses the executor actor, then the node, that runs one of its reduce tasks
mid-batch, and its output is the same as without the fault.

The cluster cannot share the session's Ray, so the job runs in a process of its own
(ray_two_node_job.py), which ends with the test process and ends every Ray process it
started (ray_watchdog).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from fastdstream.testing import child_process, wait_until

JOB = Path(__file__).with_name("ray_two_node_job.py")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    job = child_process.run([sys.executable, str(JOB)], timeout=240, env=env)
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1]
             for line in job.stdout.splitlines() if line.startswith(("RESULT ", "RAY_PIDS "))}
    assert job.returncode == 0 and "RESULT" in lines, job.stdout[-3000:] + job.stderr[-5000:]
    pids = json.loads(lines["RAY_PIDS"])
    assert pids  # the nodes' gcs_server, raylets, workers...
    wait_until(lambda: not any(_alive(p) for p in pids), timeout=30,
               what="the cluster's Ray processes to end with the job")
    results: dict[str, Any] = json.loads(lines["RESULT"])
    return results


def test_without_a_fault_each_node_has_an_executor(runs: dict[str, Any]) -> None:
    clean = runs["none"]
    assert len(set(clean["placed"].values())) == 2
    assert clean["held"] == 0 and clean["map_tasks"] == 4
    assert len(clean["out"]) == 6 and dict(clean["out"][0])["y"] == 40


@pytest.mark.parametrize("fault", ["actor", "node"])
def test_a_fault_mid_batch_gives_the_output_of_a_run_without_it(runs: dict[str, Any],
                                                                fault: str) -> None:
    run = runs[fault]
    assert run["held"] == 1  # the fault came while a reduce task ran on the victim
    assert run["map_tasks"] > 4  # its map outputs were lost and computed again
    assert run["victim"] not in run["left"]
    assert run["out"] == runs["none"]["out"]
