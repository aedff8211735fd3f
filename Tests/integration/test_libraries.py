"""Libraries from PyPI driven end to end, as the applications that use them would:

- rq (a job queue): jobs enqueued on two queues, a real worker process (`rq worker --burst`)
  runs them, results read back, a dependent job released when its parents finish, a failing job
  in the failed registry and requeued, a long-running worker blocked in BLPOP that picks up a job
  enqueued from another connection and stops on SIGTERM, and a worker in this process. rq keeps
  jobs (with their results and tracebacks) in hashes, queues in lists, registries in sorted sets,
  worker and queue lists in sets, and writes through MULTI/WATCH pipelines.
- django-redis (Django's cache backend): get/set/many/incr/ttl/touch/keys/delete_pattern,
  and its hash, set and sorted-set helpers.

rq is pinned to 1.11.1 (Makefile, PIP_PACKAGES): it is the last release that keeps a job's
result and traceback in the job's hash. rq 1.12 and later (2.x, 3.x) keep them in a stream (XADD
... MAXLEN, read with XREVRANGE), which Strata does not have, and on a server without streams no
job ever leaves "started". Nothing these tests make rq 1.11.1 do needs streams or Lua (its one
script is Queue.empty, not used here), so every rq test must pass on Strata. Its worker also
subscribes to a pub/sub channel (for `rq` commands: shutdown, kill-horse) from a thread of its
own; on a server that refuses SUBSCRIBE that thread ends on the error reply and the worker
carries on. At exit rq 1.11 stops that thread (which polls every 0.2 s) before it sends
UNSUBSCRIBE, so a burst worker exits at once, on Redis as on Strata, with rq's own Worker class:
rq 3.0's order (UNSUBSCRIBE first) needed a workaround here.

`make deps` installs both: a missing library is a failure, not a skip. A server that lacks a
command outside the data types that a library cannot do without (django-redis's incr: EVAL)
skips that test, with the reason in the summary (pytest -ra).

Runs against strata by default; TARGET=redis runs the same tests against redis-server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from resp_client import Null

import django
from django.conf import settings
from django.utils.module_loading import import_string

WORKER_TIMEOUT_S = 120

# django-redis's incr is a Lua script (EVAL).
DJANGO_INCR_COMMANDS = ("EVAL",)

TASKS = '''
"""Jobs for the rq tests: importable by the worker through PYTHONPATH."""


def add(a, b):
    return a + b


def word_counts(text):
    words = text.split()
    return {w: words.count(w) for w in sorted(set(words))}


def total(*job_ids):
    from rq import get_current_job
    from rq.job import Job

    job = get_current_job()
    parents = [Job.fetch(i, connection=job.connection) for i in job_ids]
    return sum(p.result for p in parents)


def fail(message):
    raise ValueError(message)
'''


@pytest.fixture
def srv(strata):
    """The shared server, emptied."""
    client = strata.redis_py()
    client.flushall()
    client.close()
    return strata


def missing_commands(srv, names: tuple) -> list:
    """Those of the commands that the server under test has not got (COMMAND INFO: nil)."""
    with srv.connect() as conn:
        reply = conn.execute("COMMAND", "INFO", *names)
    return [name for name, info in zip(names, reply.items) if isinstance(info, Null)]


def require_commands(srv, names: tuple, what: str) -> None:
    """Skips (with the reason in the -ra summary) when the server under test has not got
    commands outside Strata's data types that the library cannot work without. Only a server
    command can skip a test here; a library that does not import fails it (`make deps`)."""
    missing = missing_commands(srv, names)
    if missing:
        pytest.skip(f"{srv.kind} has no {', '.join(missing)}: {what}")


@pytest.fixture
def tasks_dir(tmp_path):
    """A directory holding tasks.py, for the worker's PYTHONPATH."""
    (tmp_path / "tasks.py").write_text(textwrap.dedent(TASKS))
    return tmp_path


def worker_command(srv, tasks_dir, name: str, *args: str) -> tuple[list, dict]:
    """`rq worker` (rq's own command line, as deployed) against the server under test, and its
    environment. Each worker gets a name of its own: rq refuses to start a worker with the name
    of one that is alive (a dead worker's key stays for 60 s, marked with its death)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tasks_dir), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "rq.cli", "worker", "--url", f"redis://{srv.host}:{srv.port}/0",
           "--name", name, *args]
    return cmd, env


# A burst worker with nothing left to do exits at once; rq 3.0 with redis-py 8 took a minute
# (its pub/sub thread slept out a 60 s poll), which this bound catches.
BURST_EXIT_S = 15


def run_worker(srv, tasks_dir, name: str, *queues: str) -> subprocess.CompletedProcess:
    """`rq worker --burst`: works until the queues are empty, then exits."""
    cmd, env = worker_command(srv, tasks_dir, name, "--burst", *queues)
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=tasks_dir, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, f"rq worker exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert elapsed < BURST_EXIT_S, f"the burst worker took {elapsed:.1f}s:\n{done.stdout}\n{done.stderr}"
    return done


# --------------------------------------------------------------------------
# rq
# --------------------------------------------------------------------------


def test_rq_jobs_run_by_a_worker(srv, tasks_dir):
    conn = srv.redis_py()
    try:
        queue = Queue("default", connection=conn)
        high = Queue("high", connection=conn)
        add = queue.enqueue("tasks.add", 2, 3, meta={"owner": "test"}, result_ttl=600)
        counts = queue.enqueue("tasks.word_counts", "to be or not to be", job_id="counts-1")
        urgent = high.enqueue("tasks.add", 40, 2)
        # Released only when both parents have finished.
        summed = queue.enqueue("tasks.total", add.id, urgent.id, depends_on=[add, urgent])
        failing = queue.enqueue("tasks.fail", "boom")
        assert queue.count == 3 and high.count == 1
        assert queue.job_ids == [add.id, "counts-1", failing.id]
        assert high.job_ids == [urgent.id]
        assert add.get_status() == JobStatus.QUEUED
        assert summed.get_status() == JobStatus.DEFERRED
        assert summed.result is None
        assert DeferredJobRegistry(queue=queue).get_job_ids() == [summed.id]
        assert sorted(summed.dependency_ids) == sorted([add.key, urgent.key])
        assert conn.smembers(add.dependents_key) == {summed.id.encode()}
        assert sorted(q.name for q in Queue.all(connection=conn)) == ["default", "high"]
        assert conn.type(add.key) == b"hash"
        assert conn.type(queue.key) == b"list"
        assert conn.ttl(add.key) == -1  # a queued job does not expire

        # The queues in priority order, as `rq worker high default` is deployed.
        done = run_worker(srv, tasks_dir, "worker-1", "high", "default")
        output = done.stdout + done.stderr

        for job in (add, counts, urgent, summed, failing):
            job.refresh()
        assert add.get_status() == JobStatus.FINISHED
        assert add.result == 5
        assert add.meta == {"owner": "test"}
        assert add.exc_info is None
        assert counts.result == {"be": 2, "not": 1, "or": 1, "to": 2}
        assert urgent.result == 42
        assert summed.get_status() == JobStatus.FINISHED
        assert summed.result == 47
        assert summed.ended_at >= max(add.ended_at, urgent.ended_at)
        assert Job.fetch("counts-1", connection=conn).result == {"be": 2, "not": 1, "or": 1, "to": 2}
        assert sorted(FinishedJobRegistry(queue=queue).get_job_ids()) == sorted([add.id, counts.id, summed.id])
        assert FinishedJobRegistry(queue=high).get_job_ids() == [urgent.id]
        assert DeferredJobRegistry(queue=queue).get_job_ids() == []
        assert StartedJobRegistry(queue=queue).get_job_ids() == []
        assert 0 < conn.ttl(add.key) <= 600  # result_ttl
        assert 0 < conn.ttl(counts.key) <= 500  # rq's default result_ttl

        # The failing job: in the failed registry, its traceback in its hash.
        assert failing.get_status() == JobStatus.FAILED
        assert FailedJobRegistry(queue=queue).get_job_ids() == [failing.id]
        assert failing.result is None
        assert failing.exc_info.startswith("Traceback (most recent call last):")
        assert failing.exc_info.rstrip().endswith("ValueError: boom")
        assert "ValueError: boom" in output
        first_failure = failing.ended_at

        assert queue.count == 0 and high.count == 0
        assert Worker.all(connection=conn) == []  # a burst worker deregisters when done
        assert conn.hexists("rq:worker:worker-1", "death") is True
        assert 0 < conn.ttl("rq:worker:worker-1") <= 60

        # Requeue the failed job: it leaves the failed registry, its traceback is cleared, and it
        # is queued again; a second worker runs it, and it fails again.
        assert FailedJobRegistry(queue=queue).requeue(failing.id).id == failing.id
        assert FailedJobRegistry(queue=queue).get_job_ids() == []
        assert queue.job_ids == [failing.id]
        assert failing.get_status() == JobStatus.QUEUED
        failing.refresh()
        assert failing.exc_info == "" and failing.ended_at is None
        run_worker(srv, tasks_dir, "worker-2", "default")
        failing.refresh()
        assert failing.get_status() == JobStatus.FAILED
        assert failing.exc_info.rstrip().endswith("ValueError: boom")
        assert failing.ended_at > first_failure
        assert FailedJobRegistry(queue=queue).get_job_ids() == [failing.id]
        assert queue.count == 0
    finally:
        conn.close()


@pytest.mark.parametrize("queues", [("default",), ("high", "default")], ids=["one-queue", "two-queues"])
def test_rq_worker_waits_for_jobs(srv, tasks_dir, queues):
    """A long-running worker blocks (rq 1.11 dequeues with BLPOP, on one queue or several)
    until a job is enqueued from another connection, runs it, and stops on SIGTERM (warm
    shutdown: the signal interrupts the BLPOP)."""
    conn = srv.redis_py()
    name = f"waiting-{len(queues)}"
    cmd, env = worker_command(srv, tasks_dir, name, *queues)
    worker = subprocess.Popen(cmd, cwd=tasks_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while int(conn.info("clients")["blocked_clients"]) < 1:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the worker never blocked waiting for a job"
            time.sleep(0.02)
        assert [w.name for w in Worker.all(connection=conn)] == [name]
        assert Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=conn).get_state() == "idle"
        job = Queue(queues[-1], connection=conn).enqueue("tasks.add", 20, 22)
        while job.get_status() != JobStatus.FINISHED:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, f"job still {job.get_status()}"
            time.sleep(0.02)
        assert job.result == 42
        assert FinishedJobRegistry(queue=Queue(queues[-1], connection=conn)).get_job_ids() == [job.id]
        # Back in BLPOP, waiting for the next job.
        while int(conn.info("clients")["blocked_clients"]) < 1:
            assert time.monotonic() < deadline, "the worker did not block again after its job"
            time.sleep(0.02)
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
        assert worker.returncode == 0, output
        assert "Warm shut down requested" in output
        assert Worker.all(connection=conn) == []
        assert int(conn.info("clients")["blocked_clients"]) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        conn.close()


def test_rq_worker_in_process(srv, tasks_dir, monkeypatch):
    """The same, with Worker.work(burst=True) in this process (SimpleWorker: no fork)."""
    monkeypatch.syspath_prepend(str(tasks_dir))
    import tasks

    # The worker's pub/sub thread (it listens for `rq` commands sent to this worker): whatever
    # ends it with an exception, caught here rather than left to pytest's warning.
    thread_errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))

    conn = srv.redis_py()
    try:
        queue = Queue("inproc", connection=conn)
        jobs = [queue.enqueue(tasks.add, i, i) for i in range(20)]
        bad = queue.enqueue(tasks.fail, "in process")
        assert queue.count == 21
        worker = SimpleWorker([queue], connection=conn, name="inproc-worker")
        assert worker.work(burst=True) is True
        assert [job.result for job in jobs] == [2 * i for i in range(20)]
        assert all(job.get_status() == JobStatus.FINISHED for job in jobs)
        assert bad.get_status() == JobStatus.FAILED
        bad.refresh()
        assert bad.exc_info.rstrip().endswith("ValueError: in process")
        assert FailedJobRegistry(queue=queue).get_job_ids() == [bad.id]
        assert FinishedJobRegistry(queue=queue).count == 20
        assert sorted(FinishedJobRegistry(queue=queue).get_job_ids()) == sorted(job.id for job in jobs)
        assert queue.count == 0
        assert Worker.all(connection=conn) == []
        if missing_commands(srv, ("SUBSCRIBE",)):
            # Refused, the thread ends on the error; the worker is not affected.
            assert [type(e) for e in thread_errors] == [redis.exceptions.ResponseError]
            assert str(thread_errors[0]).startswith("unknown command 'SUBSCRIBE'")
        else:
            assert thread_errors == []
    finally:
        conn.close()


# --------------------------------------------------------------------------
# django-redis
# --------------------------------------------------------------------------


def django_cache(srv):
    """django-redis as settings.CACHES configures it, pointed at the server under test."""
    caches_setting = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{srv.host}:{srv.port}/0",
            "KEY_PREFIX": "app",
            "TIMEOUT": 300,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    if not settings.configured:
        settings.configure(CACHES=caches_setting, USE_TZ=True)
        django.setup()
    # The backend Django builds from a CACHES entry (each test has its own, for its server).
    entry = dict(caches_setting["default"])
    backend = import_string(entry.pop("BACKEND"))
    cache = backend(entry.pop("LOCATION"), entry)
    assert cache.client.get_client().connection_pool.connection_kwargs["port"] == srv.port
    return cache


def test_django_redis_cache(srv):
    cache = django_cache(srv)
    raw = srv.redis_py()
    try:
        assert cache.set("greeting", "hello", timeout=60) is True
        assert cache.get("greeting") == "hello"
        assert cache.get("missing") is None
        assert cache.get("missing", default="fallback") == "fallback"
        assert raw.exists("app:1:greeting") == 1  # KEY_PREFIX:version:key
        assert 59 <= cache.ttl("greeting") <= 60
        assert cache.touch("greeting", 600) is True
        assert 599 <= cache.ttl("greeting") <= 600
        assert cache.touch("missing", 10) is False
        assert cache.add("greeting", "other") is False
        assert cache.add("fresh", "new") is True
        assert 299 <= cache.ttl("fresh") <= 300  # the default TIMEOUT
        assert cache.set("forever", 1, timeout=None) is True
        assert cache.ttl("forever") is None
        assert cache.ttl("missing") == 0

        # Python objects pickled; integers stored as integers so INCR works.
        cache.set_many({"user:1": {"name": "Ada", "langs": ["swift"]}, "user:2": [1, 2.5, None],
                        "user:3": "Grace", "hits": 10})
        assert cache.get_many(["user:1", "user:2", "user:3", "user:9"]) == \
            {"user:1": {"name": "Ada", "langs": ["swift"]}, "user:2": [1, 2.5, None], "user:3": "Grace"}
        assert raw.get("app:1:hits") == b"10"

        assert sorted(cache.keys("user:*")) == ["user:1", "user:2", "user:3"]
        assert sorted(cache.iter_keys("user:*")) == ["user:1", "user:2", "user:3"]
        assert cache.delete_pattern("user:*") == 3
        assert cache.keys("user:*") == []
        assert cache.delete("greeting") is True
        assert cache.delete("greeting") is False
        assert cache.has_key("fresh") is True
        assert cache.delete_many(["fresh", "forever", "missing"]) == 2
    finally:
        raw.close()


def test_django_redis_incr(srv):
    """cache.incr is EVAL of a Lua script (EXISTS, then INCRBY). On a ResponseError django-redis
    falls back to TTL + GET + SET, which works for a key that exists but fails with a TypeError,
    not ValueError, for one that does not."""
    require_commands(srv, DJANGO_INCR_COMMANDS, "django-redis runs incr as a Lua script")
    cache = django_cache(srv)
    cache.set("hits", 10)
    assert cache.incr("hits") == 11
    assert cache.incr("hits", 10) == 21
    assert cache.decr("hits", 1) == 20
    assert cache.get("hits") == 20
    with pytest.raises(ValueError):
        cache.incr("no-such-counter")


def test_django_redis_hashes_sets_and_sorted_sets(srv):
    cache = django_cache(srv)
    raw = srv.redis_py()
    try:
        # Online users as a set.
        assert cache.sadd("online", "ada", "grace", "linus") == 3
        assert cache.sadd("online", "ada") == 0
        assert cache.smembers("online") == {"ada", "grace", "linus"}
        assert cache.scard("online") == 3
        assert cache.sismember("online", "grace") is True
        assert cache.srem("online", "linus") == 1
        assert cache.sadd("admins", "grace", "root") == 2
        assert cache.sinter("online", "admins") == {"grace"}
        assert cache.sunion("online", "admins") == {"ada", "grace", "root"}
        assert cache.smove("online", "admins", "ada") is True
        assert cache.smembers("admins") == {"ada", "grace", "root"}
        assert raw.type("app:1:online") == b"set"

        # A profile as a hash (values pickled like any cache value).
        assert cache.hset("profile:7", "name", "Ada") == 1
        assert cache.hset("profile:7", mapping={"langs": ["swift", "c"], "age": 36}) == 2
        assert sorted(cache.hkeys("profile:7")) == ["age", "langs", "name"]
        assert cache.hlen("profile:7") == 3
        assert cache.hexists("profile:7", "langs") is True
        assert cache.hdel("profile:7", "age") == 1
        assert cache.hexists("profile:7", "age") is False
        assert raw.type("app:1:profile:7") == b"hash"
        assert raw.object("encoding", "app:1:profile:7") == b"listpack"

        # A scoreboard as a sorted set.
        assert cache.zadd("scores", {"ada": 30, "grace": 50, "linus": 10}) == 3
        assert cache.zincrby("scores", 25, "ada") == 55.0
        assert cache.zrange("scores", 0, -1) == ["linus", "grace", "ada"]
        assert cache.zrevrange("scores", 0, 0, withscores=True) == [("ada", 55.0)]
        assert cache.zscore("scores", "grace") == 50.0
        assert cache.zrank("scores", "linus") == 0
        assert cache.zcount("scores", 20, 60) == 2
        assert cache.zpopmin("scores") == ("linus", 10.0)
        assert cache.zcard("scores") == 2
        assert raw.type("app:1:scores") == b"zset"

        # A tag index kept by the application with the sets: invalidate = SMEMBERS + DEL + DEL.
        cache.set("page:/", "<home>")
        cache.set("page:/docs", "<docs>")
        cache.sadd("tag:docs", "page:/docs")
        cache.sadd("tag:all", "page:/", "page:/docs")
        for key in cache.smembers("tag:all"):
            cache.delete(key)
        cache.delete("tag:all")
        assert cache.get_many(["page:/", "page:/docs"]) == {}
        assert cache.smembers("tag:all") == set()
        assert cache.smembers("tag:docs") == {"page:/docs"}
    finally:
        raw.close()
