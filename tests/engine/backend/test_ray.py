"""ray: executors as Ray actors on the session's Ray, and what happens when they die."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from operator import add

import pytest
import ray

from fastdstream import Context, TaskContext
from fastdstream.engine.backend.ray import RemoteTaskError, is_ray_master
from fastdstream.testing import ManualStreaming, block_ids, child_process, wait_until

FRESH = {"fastdstream.ray.reuseExecutors": "false"}
"""New actors for the Context, as its ids and process ids are checked."""


@pytest.fixture
def cluster(ray_session: None) -> Iterator[Context]:
    sc = Context("ray", "test-ray", conf=FRESH)
    yield sc
    sc.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie counts as gone
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("master, expected", [
    ("ray", True), ("ray://127.0.0.1:10001", True), ("local[2]", False), ("rayon", False),
])
def test_ray_masters(master: str, expected: bool) -> None:
    assert is_ray_master(master) is expected


def test_tasks_run_on_actors_each_with_its_own_executor(cluster: Context) -> None:
    where = cluster.parallelize(range(8), 4).map(
        lambda _: (os.getpid(), TaskContext.get().executor.executor_id)).collect()
    pids = {pid for pid, _ in where}
    assert os.getpid() not in pids
    assert pids == set(cluster._backend.worker_pids().values())
    assert {e for _, e in where} == {"0", "1"}
    assert cluster.defaultParallelism == 2


def test_a_context_joins_the_running_ray_and_leaves_it_running(ray_session: None) -> None:
    with Context("ray", conf=FRESH) as sc:
        assert sc.parallelize(range(10), 2).sum() == 45
    assert ray.is_initialized()


def test_executor_instances_and_cores_size_the_actors(ray_session: None) -> None:
    conf = {"spark.executor.instances": "1", "spark.executor.cores": "2", **FRESH}
    with Context("ray", conf=conf) as sc:
        assert sc.defaultParallelism == 2
        where = sc.parallelize(range(4), 4).map(
            lambda _: TaskContext.get().executor.executor_id).collect()
        assert set(where) == {"0"}


def test_ray_settings_are_checked(ray_session: None) -> None:
    with pytest.raises(ValueError, match=r"fastdstream\.ray\.executor\.resources"):
        Context("ray", conf={"fastdstream.ray.executor.resources": "[1]"})
    with pytest.raises(ValueError, match=r"spark\.executor\.instances"):
        Context("ray", conf={"spark.executor.instances": "0"})


def test_executors_a_cluster_cannot_hold_fail_clearly(ray_session: None) -> None:
    conf = {"fastdstream.ray.executor.resources": '{"no_such_resource": 1}',
            "fastdstream.ray.startTimeout": "2s"}
    with pytest.raises(RuntimeError, match="did not start within 2 s"):
        Context("ray", conf=conf)


def test_warm_executors_go_to_the_next_context_without_their_state_or_blocks(
        ray_session: None) -> None:
    warm = {"fastdstream.ray.reuseExecutors": "true"}

    def touch(x):
        TaskContext.get().executor_state("consumer", lambda: object())
        return os.getpid()

    with Context("ray", conf=warm) as first:
        pids = set(first.parallelize(range(4), 4).map(touch).collect())
        first.parallelize(range(4), 4).cache().count()
        ids = first._backend.executor_ids()
        assert first._backend.executor_state_keys() == {i: ["'consumer'"] for i in ids}
    with Context("ray", conf=warm) as second:
        assert set(second._backend.worker_pids().values()) == pids  # the same processes
        assert sorted(second._backend.executor_ids()) == sorted(ids)
        assert second._backend.executor_state_keys() == {i: [] for i in ids}
        assert block_ids(second) == set()
        assert sorted(second.parallelize([(1, 2), (1, 3)], 2).reduceByKey(add).collect()) \
            == [(1, 5)]


def test_a_partition_runs_on_the_same_executor_batch_after_batch(cluster: Context) -> None:
    def where(_):
        return TaskContext.get().executor.executor_id

    first = cluster.parallelize(range(4), 4).map(where).collect()
    for _ in range(3):
        assert cluster.parallelize(range(4), 4).map(where).collect() == first
    assert set(first) == {"0", "1"}


def test_executor_state_lives_as_long_as_its_actor(cluster: Context) -> None:
    def touch(x):
        return TaskContext.get().executor_state(("consumer", x % 2), lambda: object()) and x

    cluster.parallelize(range(4), 4).map(touch).collect()
    cluster.parallelize(range(4), 4).map(touch).collect()
    keys = cluster._backend.executor_state_keys()
    assert sorted(k for ks in keys.values() for k in ks) == [
        "('consumer', 0)", "('consumer', 1)"]


def test_a_shuffle_reads_map_outputs_from_both_actors(cluster: Context) -> None:
    counts = cluster.parallelize([(i % 7, 1) for i in range(1000)], 4).reduceByKey(add)
    assert sorted(counts.collect()) == [(k, len(range(k, 1000, 7))) for k in range(7)]
    holders = {e for e, b in cluster._backend.block_ids()
               if b[:2] == ("shuffle", counts.shuffle_id)}
    assert holders == {"0", "1"}
    shuffle_id = counts.shuffle_id
    del counts  # nobody can reach the shuffle any more: its outputs go
    gc.collect()
    assert not any(b[:2] == ("shuffle", shuffle_id) for b in block_ids(cluster))


def test_a_task_error_keeps_its_type_and_carries_the_actor_traceback(cluster) -> None:
    def divide(x):
        return 1 / x

    with pytest.raises(ZeroDivisionError) as info:
        cluster.parallelize([1, 0], 2).map(divide).collect()
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "Traceback on executor" in notes and "divide" in notes


def test_an_exception_that_does_not_pickle_comes_back_as_text(cluster: Context) -> None:
    class UnpicklableError(Exception):
        def __init__(self) -> None:
            super().__init__("holds a lock")
            self.lock = threading.Lock()

    def fail(_):
        raise UnpicklableError()

    with pytest.raises(RemoteTaskError, match="holds a lock"):
        cluster.parallelize([1], 1).map(fail).collect()


def test_an_actor_killed_mid_task_is_replaced_and_its_task_retried(cluster: Context) -> None:
    before = cluster._backend.worker_pids()

    def die_on_first_attempt(x):
        context = TaskContext.get()
        if x == 0 and context.attemptNumber() == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return x, context.attemptNumber(), context.executor.executor_id

    result = cluster.parallelize(range(4), 4).map(die_on_first_attempt).collect()
    assert [x for x, _, _ in result] == [0, 1, 2, 3]
    assert result[0][1] == 1  # the retry, on the executor that was left
    assert result[0][2] == "1"
    wait_until(lambda: len(cluster._backend.worker_pids()) == 2,
               what="a new actor in the dead one's place")
    after = cluster._backend.worker_pids()
    assert set(after) == {"1", "2"} and after["1"] == before["1"]
    assert not _alive(before["0"])


def test_shuffle_outputs_lost_with_an_actor_are_recomputed(cluster: Context) -> None:
    counts = cluster.parallelize([(i % 5, 1) for i in range(500)], 4).reduceByKey(add)
    expected = sorted(counts.collect())
    victim = cluster._backend._slots[0]
    ray.kill(victim.handle, no_restart=True)
    # Either the loss is seen first (its outputs are forgotten and the map stage runs
    # again) or a reduce task finds them gone (FetchFailed): the answer is the same.
    assert sorted(counts.collect()) == expected
    assert sorted(counts.collect()) == expected
    assert "0" not in cluster._backend.executor_ids()


def test_stop_kills_the_actors(cluster: Context) -> None:
    pids = list(cluster._backend.worker_pids().values())
    cluster.stop()
    wait_until(lambda: not any(_alive(p) for p in pids), what="the actors to exit")
    with pytest.raises(RuntimeError, match="stopped"):
        cluster.parallelize([1]).collect()


def test_stopping_the_context_ends_a_running_job_at_once(cluster: Context, tmp_path) -> None:
    never = tmp_path / "never"
    started = tmp_path / "started"

    def wait_forever(x):
        (started / str(x)).touch()
        while not never.exists():
            time.sleep(0.01)
        return x

    started.mkdir()
    errors: list[BaseException] = []

    def job() -> None:
        try:
            cluster.parallelize(range(2), 2).map(wait_forever).collect()
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=job, daemon=True)  # a hang fails, never blocks exit
    runner.start()
    wait_until(lambda: len(list(started.iterdir())) == 2, what="a task running on each actor")
    began = time.monotonic()
    cluster.stop()
    runner.join(15)
    assert not runner.is_alive() and time.monotonic() - began < 15
    assert len(errors) == 1 and "Context stopped" in str(errors[0])


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                children = [int(c) for c in f.read().split()]
        except FileNotFoundError:
            continue
        found.update(children)
        stack.extend(children)
    return found


def test_a_ray_the_context_started_goes_with_it_also_when_the_driver_is_killed() -> None:
    script = textwrap.dedent("""
        import sys, time, ray
        from fastdstream import Context
        sc = Context("ray", conf={"spark.executor.instances": "1"})
        assert sc.parallelize(range(4), 2).count() == 4
        print("up", flush=True)
        if sys.argv[1] == "stop":
            sc.stop()
            print(ray.is_initialized(), flush=True)
        else:
            time.sleep(600)
    """)
    for how in ("stop", "kill"):
        driver = child_process.start([sys.executable, "-c", script, how], stdout=subprocess.PIPE,
                                     text=True)
        try:
            assert driver.stdout is not None
            assert driver.stdout.readline().strip() == "up"
            ray_processes = _descendants(driver.pid)
            assert ray_processes  # gcs_server, raylet, the actor's worker...
            if how == "stop":
                assert driver.stdout.readline().strip() == "False"
                driver.wait(30)
            else:
                driver.send_signal(signal.SIGKILL)
                driver.wait(10)
            wait_until(lambda rp=ray_processes: not any(_alive(p) for p in rp), timeout=30,
                       what=f"Ray's processes to exit after the driver's {how}")
        finally:
            driver.kill()
            driver.wait()


_TWO_NODES = textwrap.dedent("""
    import os, sys
    from operator import add
    import ray
    from ray.cluster_utils import Cluster
    from fastdstream import Context, TaskContext
    from fastdstream.engine.backend import ray_watchdog

    watchdog = ray_watchdog.start(os.getpid())  # a killed test leaves no node behind
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    sc = Context("ray", conf={"spark.executor.instances": "2"})

    def node(_):
        return (TaskContext.get().executor.executor_id,
                ray.get_runtime_context().get_node_id())

    placed = dict(sc.parallelize(range(2), 2).map(node).collect())
    assert len(set(placed.values())) == 2, placed  # one executor on each node
    victim = next(e for e, n in placed.items() if n == worker.node_id)
    data = sc.parallelize([(i % 7, 1) for i in range(700)], 4)
    counts = data.reduceByKey(add)
    expected = sorted(counts.collect())
    pid = sc._backend.worker_pids()[victim]
    # The node goes, and with it every process it ran (raylet and all: the machine is
    # gone); an actor's process outlives its raylet for a while otherwise.
    cluster.remove_node(worker, allow_graceful=False)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    # Map outputs on the lost node are recomputed; its tasks run on the executor left
    # (the replacement waits for a CPU the cluster no longer has).
    assert sorted(counts.collect()) == expected
    assert sorted(data.reduceByKey(add).collect()) == expected
    left = sc._backend.executor_ids()
    assert victim not in left and len(left) == 1, (victim, placed, left)
    sc.stop()
    ray.shutdown()
    cluster.shutdown()
    print("ok", flush=True)
""")


def test_a_node_lost_with_its_executor_on_a_two_node_cluster() -> None:
    job = child_process.run([sys.executable, "-c", _TWO_NODES], timeout=240)
    assert job.stdout.strip().endswith("ok"), job.stdout + job.stderr


_CLIENT = textwrap.dedent("""
    import os, socket
    from operator import add
    import ray
    from ray.cluster_utils import Cluster
    from fastdstream import Context
    from fastdstream.engine.backend import ray_watchdog

    watchdog = ray_watchdog.start(os.getpid())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 2, "ray_client_server_port": port})
    try:
        sc = Context(f"ray://127.0.0.1:{port}")
    except ConnectionAbortedError:
        # Ray Client's proxy gives the per-client server it starts a fixed time to come
        # up, which a loaded machine can miss ("Starting Ray client server failed"):
        # Ray's start-up, not ours, so once more.
        sc = Context(f"ray://127.0.0.1:{port}")
    assert ray.util.client.ray.is_connected()
    counts = sc.parallelize([(i % 7, 1) for i in range(700)], 4).reduceByKey(add).collect()
    assert sorted(counts) == [(k, 100) for k in range(7)], counts
    assert sorted(sc._backend.executor_ids()) == ["0", "1"]
    sc.stop()
    assert not ray.is_initialized()  # the Context's own connection, closed with it
    cluster.shutdown()
    print("ok", flush=True)
""")


def test_a_ray_client_master_runs_through_ray_client() -> None:
    job = child_process.run([sys.executable, "-c", _CLIENT], timeout=240)
    assert job.stdout.strip().endswith("ok"), job.stdout + job.stderr


def _running_counts(streaming: ManualStreaming, checkpoint: str, marker: str | None
                    ) -> list[list[tuple[str, int]]]:
    """A stateful word count over 8 batches; with ``marker``, the executor running the
    task that meets word ``d4`` dies (once: the marker file records it)."""
    def words(line):
        if marker is not None and "d4" in line and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return line.split()

    streaming.ssc.checkpoint(checkpoint)
    lines = [[f"a b c{i % 3} d{i}", f"a c{i % 2}"] for i in range(8)]
    stream = streaming.ssc.queueStream([streaming.sc.parallelize(b, 2) for b in lines])
    out: list[list[tuple[str, int]]] = []
    counts = stream.flatMap(words).map(lambda w: (w, 1)).reduceByKey(add, 4)
    state = counts.updateStateByKey(lambda new, last: sum(new) + (last or 0))
    state.foreachRDD(lambda rdd: out.append(sorted(rdd.collect())))
    streaming.start()
    streaming.run_batches(8, timeout=60)
    return out


def test_a_stateful_stream_gives_the_same_results_when_an_executor_dies_mid_batch(
        ray_session: None, tmp_path) -> None:
    clean = ManualStreaming(master="ray")
    try:
        expected = _running_counts(clean, str(tmp_path / "clean"), None)
    finally:
        clean.stop()
    faulty = ManualStreaming(master="ray")
    try:
        before = set(faulty.sc._backend.worker_pids().values())
        marker = tmp_path / "killed"
        assert _running_counts(faulty, str(tmp_path / "faulty"), str(marker)) == expected
        assert marker.exists()  # an executor did die
        assert set(faulty.sc._backend.worker_pids().values()) != before
    finally:
        faulty.stop()
    assert len(expected) == 8 and dict(expected[-1])["a"] == 16
