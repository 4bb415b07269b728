"""The hand-off model recognises the queue hand-offs of the hybrid migration path, by what the
objects are, and nothing that merely looks like them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bglint.handoffs import HandoffFinder, Mechanism
from bglint.project import Project
from bglint.semantics import Semantics

SOURCE = """
import asyncio
import queue

import dramatiq
from celery import Celery, shared_task
from fastapi import FastAPI, WebSocket
from redis import Redis
from rq import Queue

celery_app = Celery("app")
rq_queue = Queue(connection=Redis())
app = FastAPI()


@celery_app.task
def resize(image_id: int) -> None: ...


@shared_task
def cleanup() -> None: ...


@dramatiq.actor
def index(doc_id: int) -> None: ...


async def arq_job(ctx, user_id: int) -> None: ...


def plain(x) -> None: ...


class Timer:
    def delay(self, seconds): ...


@app.websocket("/ws")
async def ws_endpoint(ws: WebSocket, redis):
    resize.delay(1)
    resize.apply_async(args=[1], countdown=5)
    cleanup.delay()
    index.send(3)
    index.send_with_options(args=(3,), delay=1000)
    rq_queue.enqueue(plain, 4, job_timeout=30)
    Queue("low", connection=Redis()).enqueue(plain, 5)
    rq_queue.enqueue(plain, args=(7,), kwargs={"x": 8}, job_timeout=30)
    await redis.enqueue_job("arq_job", 6, _defer_by=10)
    # look-alikes that are not hand-offs
    await ws.send_text("hi")
    await ws.send({"type": "websocket.send"})
    queue.Queue().put(plain)
    Timer().delay(3)
    plain.delay = None
    asyncio.get_running_loop()
"""


def test_queue_handoffs_are_recognised_and_look_alikes_are_not(tmp_path: Path) -> None:
    path = tmp_path / "jobs.py"
    path.write_text(textwrap.dedent(SOURCE))
    project = Project()
    module = project.facts(path)
    finder = HandoffFinder(project, Semantics(project))
    sites = finder.sites(module)
    found = [(s.mechanism, module.code_for(s.task_expr) if s.task_expr is not None else s.task_name, [module.code_for(a.value) for a in s.args if a.value is not None]) for s in sites]
    assert found == [
        (Mechanism.CELERY_DELAY, "resize", ["1"]),
        (Mechanism.CELERY_APPLY_ASYNC, "resize", ["1"]),
        (Mechanism.CELERY_DELAY, "cleanup", []),
        (Mechanism.DRAMATIQ_SEND, "index", ["3"]),
        (Mechanism.DRAMATIQ_SEND, "index", ["3"]),
        (Mechanism.RQ_ENQUEUE, "plain", ["4"]),  # `job_timeout` is RQ's option, not the task's
        (Mechanism.RQ_ENQUEUE, "plain", ["5"]),
        (Mechanism.RQ_ENQUEUE, "plain", ["7", "8"]),  # RQ's explicit form: `args`/`kwargs` are unpacked
        (Mechanism.ARQ_ENQUEUE_JOB, "arq_job", ["6"]),  # `_defer_by` is arq's option
    ]
    targets = [finder.target(s) for s in sites]
    assert [t.function.name if t else None for t in targets] == ["resize", "resize", "cleanup", "index", "index", "plain", "plain", "plain", "arq_job"]
