"""A streaming word count on a two-node Ray cluster, run three times: without a fault,
with the executor actor on the second node killed mid-batch, and with that node lost
mid-batch. Run by test_ray_cluster.py in a process of its own (a cluster of its own
cannot share the test session's Ray); prints one ``RESULT <json>`` line.

Each node has one CPU and one ``fd_executor`` resource, and each executor asks for one,
so there is one executor on each node. In the fourth batch the reduce task on the
second node's executor stops at a gate (an actor on the head node) until the fault
has happened, so the fault always comes while it runs and after the map stage wrote
outputs on that node: the task is retried on the executor left, and the lost map
outputs are recomputed from the batch's lineage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
from operator import add
from typing import Any

import ray
from ray.cluster_utils import Cluster

from fastdstream import TaskContext
from fastdstream.engine.backend import ray_watchdog
from fastdstream.testing import ManualStreaming

BATCHES = 6
FAULTY_BATCH = 3  # 0-based
GATE = "fd-two-node-gate"


@ray.remote(num_cpus=0, resources={"head": 0.01})
class Gate:
    """Counts the tasks of each batch and holds the armed one until the fault."""

    def __init__(self) -> None:
        self.armed_for = ""
        self.held = 0
        self.map_tasks = 0
        self._arrived = asyncio.Event()

    async def arm(self, executor_id: str) -> None:
        self.armed_for, self.held, self.map_tasks = executor_id, 0, 0
        self._arrived = asyncio.Event()

    async def map_task(self) -> None:
        self.map_tasks += 1

    async def reduce_task(self, executor_id: str, attempt: int) -> None:
        if executor_id == self.armed_for and attempt == 0 and self.held == 0:
            self.held += 1
            self._arrived.set()
            await asyncio.Event().wait()  # until the executor is killed

    async def arrived(self) -> None:
        await self._arrived.wait()

    async def report(self) -> dict[str, Any]:
        armed, self.armed_for = self.armed_for, ""
        return {"armed_for": armed, "held": self.held, "map_tasks": self.map_tasks}


def _mapped(records: Any) -> Any:
    ray.get(ray.get_actor(GATE).map_task.remote())
    return records


def _reduced(records: Any) -> Any:
    context = TaskContext.get()
    assert context is not None
    ray.get(ray.get_actor(GATE).reduce_task.remote(context.executor.executor_id,
                                                   context.attemptNumber()))
    return records


def _where(_: Any) -> tuple[str, str]:
    context = TaskContext.get()
    assert context is not None
    return context.executor.executor_id, ray.get_runtime_context().get_node_id()


def run(cluster: Cluster, worker: Any, gate: Any, fault: str) -> dict[str, Any]:
    conf = {"spark.executor.instances": "2", "spark.executor.cores": "1",
            "fastdstream.ray.executor.resources": json.dumps({"fd_executor": 1}),
            "fastdstream.ray.reuseExecutors": "false"}
    streaming = ManualStreaming(master="ray", conf=conf)
    try:
        sc = streaming.sc
        placed = dict(sc.parallelize(range(2), 2).map(_where).collect())
        assert len(set(placed.values())) == 2, placed  # one executor on each node
        victim = next(e for e, node in placed.items() if node == worker.node_id)
        text = [[f"w{(b * 7 + i) % 13} x{i % 3} y" for i in range(40)]
                for b in range(BATCHES)]
        lines = streaming.input(text, numSlices=4)
        counts = (lines.mapPartitions(_mapped).flatMap(str.split).map(lambda w: (w, 1))
                  .reduceByKey(add, 4).mapPartitions(_reduced))
        out = streaming.collect(counts)
        streaming.run_batches(FAULTY_BATCH, timeout=60)
        ray.get(gate.arm.remote(victim if fault != "none" else ""))
        faulted = threading.Thread(target=_fault, args=(cluster, worker, gate, sc, victim,
                                                        fault))
        faulted.start()
        streaming.run_batches(1, timeout=120)
        faulted.join(60)
        report = ray.get(gate.report.remote())
        streaming.run_batches(BATCHES - FAULTY_BATCH - 1, timeout=60)
        return {"victim": victim, "placed": placed, "left": sc._backend.executor_ids(),
                "out": [sorted(batch) for batch in out], **report}
    finally:
        streaming.stop()


def _fault(cluster: Cluster, worker: Any, gate: Any, sc: Any, victim: str, fault: str) -> None:
    if fault == "none":
        return
    ray.get(gate.arrived.remote(), timeout=60)  # the victim runs a reduce task now
    if fault == "actor":
        actor = next(a for a in sc._backend._slots if a.executor_id == victim)
        ray.kill(actor.handle, no_restart=True)
        return
    pid = sc._backend.worker_pids()[victim]
    # The node goes, and every process on it (the machine is gone): an actor's process
    # would outlive its raylet for a while otherwise.
    cluster.remove_node(worker, allow_graceful=False)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)


def _die_with(parent: int) -> None:
    # Killed test process: this driver ends, and the watchdog ends its Ray processes.
    while True:
        threading.Event().wait(0.5)
        if os.getppid() != parent:
            os._exit(1)


def main() -> None:
    threading.Thread(target=_die_with, args=(os.getppid(),), daemon=True).start()
    watchdog = ray_watchdog.start(os.getpid())  # started first: it sees every Ray process
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"fd_executor": 1, "head": 1}})
    try:
        worker = cluster.add_node(num_cpus=1, resources={"fd_executor": 1})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        gate = Gate.options(name=GATE).remote()  # type: ignore[attr-defined]
        results = {fault: run(cluster, worker, gate, fault)
                   for fault in ("none", "actor", "node")}
        print("RESULT " + json.dumps(results), flush=True)
        # Every Ray process of the cluster: the test checks they all end with this one.
        print("RAY_PIDS " + json.dumps(sorted(ray_watchdog._ray_descendants(os.getpid()))),
              flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()
        assert watchdog.stdin is not None
        watchdog.stdin.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
