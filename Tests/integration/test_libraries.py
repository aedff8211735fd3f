"""Libraries from PyPI driven end to end, as the applications that use them would:

- rq (a job queue): jobs enqueued, a real worker process (`rq worker --burst`) runs them,
  results read back, a failing job in the failed registry, a dependent job released when its
  parent finishes. rq keeps jobs in hashes, queues in lists, registries in sorted sets, worker
  and queue lists in sets, results in streams, and writes through MULTI pipelines.
- django-redis (Django's cache backend): get/set/many/incr/ttl/touch/keys/delete_pattern,
  and its hash, set and sorted-set helpers.

`make deps` installs both: a missing library is a failure, not a skip. A server that lacks a
command outside the data types that a library cannot do without (rq 3.0: XADD and XREVRANGE;
django-redis's incr: EVAL) skips those tests, with the reason in the summary (pytest -ra).

Runs against strata by default; TARGET=redis runs the same tests against redis-server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry
from rq.results import Result

from resp_client import Null

import django
from django.conf import settings
from django.utils.module_loading import import_string

WORKER_TIMEOUT_S = 120

# rq 3.0 keeps every job's results in a stream (XADD ... MAXLEN ~ 10, read with XREVRANGE): on a
# server without them no job ever leaves "started". django-redis's incr is a Lua script (EVAL).
RQ_COMMANDS = ("XADD", "XREVRANGE")
DJANGO_INCR_COMMANDS = ("EVAL",)

TASKS = '''
"""Jobs for the rq test, and its worker classes: importable by the worker through PYTHONPATH."""

from rq.worker import SimpleWorker, Worker


class PromptExit:
    """rq 3.0 sends UNSUBSCRIBE before it stops its pubsub thread; with redis-py 8 (whose
    stop() waits for the thread) the thread can take the UNSUBSCRIBE reply while still running
    and then sleep out its 60 s poll, so a burst worker takes a minute to exit. Clearing the
    thread's flag first lets that reply end it at once. Nothing else changes."""

    def unsubscribe(self):
        thread = self.pubsub_thread
        if thread is not None and hasattr(thread, "_running"):
            thread._running.clear()
        super().unsubscribe()


class PromptWorker(PromptExit, Worker):
    pass


class PromptSimpleWorker(PromptExit, SimpleWorker):
    pass


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
    return sum(p.return_value() for p in parents)


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


def require_commands(srv, names: tuple, what: str) -> None:
    """Skips (with the reason in the -ra summary) when the server under test has not got
    commands outside Strata's data types that the library cannot work without. Only a server
    command can skip a test here; a library that does not import fails it (`make deps`)."""
    with srv.connect() as conn:
        reply = conn.execute("COMMAND", "INFO", *names)
    missing = [name for name, info in zip(names, reply.items) if isinstance(info, Null)]
    if missing:
        pytest.skip(f"{srv.kind} has no {', '.join(missing)}: {what}")


@pytest.fixture
def tasks_dir(tmp_path):
    """A directory holding tasks.py, for the worker's PYTHONPATH."""
    (tmp_path / "tasks.py").write_text(textwrap.dedent(TASKS))
    return tmp_path


def run_worker(srv, tasks_dir, name: str, *queues: str) -> subprocess.CompletedProcess:
    """`rq worker --burst`: works until the queues are empty, then exits. Each worker needs a
    name of its own: a dead worker's key lives on for 60 s, and a new worker of the same name
    waits for it to expire."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tasks_dir), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", f"redis://{srv.host}:{srv.port}/0",
           "--name", name, "--worker-class", "tasks.PromptWorker", *queues]
    done = subprocess.run(cmd, cwd=tasks_dir, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    assert done.returncode == 0, f"rq worker exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


# --------------------------------------------------------------------------
# rq
# --------------------------------------------------------------------------


def test_rq_jobs_run_by_a_worker(srv, tasks_dir):
    require_commands(srv, RQ_COMMANDS, "rq 3.0 keeps job results in streams")
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
        assert summed.get_status() == JobStatus.DEFERRED
        assert DeferredJobRegistry(queue=queue).get_job_ids() == [summed.id]
        assert sorted(q.name for q in Queue.all(connection=conn)) == ["default", "high"]
        assert conn.type(add.key) == b"hash"
        assert conn.type(queue.key) == b"list"

        # The queues in priority order, as `rq worker high default` is deployed.
        done = run_worker(srv, tasks_dir, "worker-1", "high", "default")
        output = done.stdout + done.stderr

        for job in (add, counts, urgent, summed, failing):
            job.refresh()
        assert add.get_status() == JobStatus.FINISHED
        assert add.return_value() == 5
        assert add.meta == {"owner": "test"}
        assert counts.return_value() == {"be": 2, "not": 1, "or": 1, "to": 2}
        assert urgent.return_value() == 42
        assert summed.get_status() == JobStatus.FINISHED
        assert summed.return_value() == 47
        assert Job.fetch("counts-1", connection=conn).return_value() == counts.return_value()
        assert sorted(FinishedJobRegistry(queue=queue).get_job_ids()) == sorted([add.id, counts.id, summed.id])
        assert FinishedJobRegistry(queue=high).get_job_ids() == [urgent.id]
        assert DeferredJobRegistry(queue=queue).get_job_ids() == []
        assert 0 < conn.ttl(add.key) <= 600  # result_ttl

        # The failing job: in the failed registry, with its traceback in the result.
        assert failing.get_status() == JobStatus.FAILED
        assert FailedJobRegistry(queue=queue).get_job_ids() == [failing.id]
        result = failing.latest_result()
        assert result.type == Result.Type.FAILED
        assert "ValueError: boom" in result.exc_string
        assert "ValueError: boom" in output
        assert [r.type for r in add.results()] == [Result.Type.SUCCESSFUL]

        assert queue.count == 0 and high.count == 0
        assert Worker.all(connection=conn) == []  # a burst worker deregisters when done

        # Requeue the failed job: it leaves the failed registry and is queued again.
        assert FailedJobRegistry(queue=queue).requeue(failing.id) is not None
        assert FailedJobRegistry(queue=queue).get_job_ids() == []
        assert queue.job_ids == [failing.id]
        assert failing.get_status() == JobStatus.QUEUED
        run_worker(srv, tasks_dir, "worker-2", "default")
        assert failing.get_status() == JobStatus.FAILED
        assert len(failing.results()) == 2
    finally:
        conn.close()


@pytest.mark.parametrize("queues", [("default",), ("high", "default")], ids=["one-queue-blmove", "two-queues-blpop"])
def test_rq_worker_waits_for_jobs(srv, tasks_dir, queues):
    """A long-running worker blocks (BLMOVE on one queue, BLPOP on several) until a job is
    enqueued from another connection, runs it, and stops on SIGTERM (warm shutdown)."""
    require_commands(srv, RQ_COMMANDS, "rq 3.0 keeps job results in streams")
    conn = srv.redis_py()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tasks_dir), os.environ.get("PYTHONPATH")])))
    name = f"waiting-{len(queues)}"
    cmd = [sys.executable, "-m", "rq.cli", "worker", "--url", f"redis://{srv.host}:{srv.port}/0",
           "--name", name, "--worker-class", "tasks.PromptWorker", *queues]
    worker = subprocess.Popen(cmd, cwd=tasks_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while int(conn.info("clients")["blocked_clients"]) < 1:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the worker never blocked waiting for a job"
            time.sleep(0.02)
        job = Queue(queues[-1], connection=conn).enqueue("tasks.add", 20, 22)
        while job.get_status() != JobStatus.FINISHED:
            assert time.monotonic() < deadline, f"job still {job.get_status()}"
            time.sleep(0.02)
        assert job.return_value() == 42
        assert [w.name for w in Worker.all(connection=conn)] == [name]
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
        assert worker.returncode == 0, output
        assert Worker.all(connection=conn) == []
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        conn.close()


def test_rq_worker_in_process(srv, tasks_dir, monkeypatch):
    """The same, with Worker.work(burst=True) in this process (SimpleWorker: no fork)."""
    require_commands(srv, RQ_COMMANDS, "rq 3.0 keeps job results in streams")
    monkeypatch.syspath_prepend(str(tasks_dir))
    import tasks

    conn = srv.redis_py()
    try:
        queue = Queue("inproc", connection=conn)
        jobs = [queue.enqueue(tasks.add, i, i) for i in range(20)]
        bad = queue.enqueue(tasks.fail, "in process")
        assert queue.count == 21
        worker = tasks.PromptSimpleWorker([queue], connection=conn, name="inproc-worker")
        assert worker.work(burst=True) is True
        assert [job.return_value() for job in jobs] == [2 * i for i in range(20)]
        assert bad.get_status() == JobStatus.FAILED
        assert FailedJobRegistry(queue=queue).get_job_ids() == [bad.id]
        assert FinishedJobRegistry(queue=queue).count == 20
        assert queue.count == 0
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
