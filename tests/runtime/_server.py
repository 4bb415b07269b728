"""Real uvicorn servers on 127.0.0.1 for tests: in a thread, or as separate worker processes.

Ports are always picked by the OS (bound to port 0); every server is stopped on exit, with bounded waits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import httpx
import uvicorn

STARTUP_TIMEOUT = 10.0


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server  # set ``should_exit`` for a graceful stop (what SIGTERM does), ``force_exit`` to abort
    thread: threading.Thread


@contextlib.contextmanager
def serve_in_thread(app: object, **config: Any) -> Iterator[LiveServer]:
    """Serve ``app`` with uvicorn in a daemon thread (lifespan off unless asked); stop it on exit.

    uvicorn serves on a socket bound here, so there is no window in which another process can take the port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, **{"log_level": "critical", "lifespan": "off", **config}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield LiveServer(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        if thread.is_alive():  # graceful shutdown still waiting for a task: abort it
            server.force_exit = True
            thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()


@contextlib.contextmanager
def serve(app: object) -> Iterator[str]:
    """Serve ``app`` and yield its base URL; the server is shut down on exit (bounded waits)."""
    with serve_in_thread(app, log_level="error") as live:
        yield live.url


@dataclass
class Worker:
    """One ``python -m uvicorn module:app`` process to start: its own interpreter and module globals."""

    module_dir: Path
    module: str
    env: Optional[Dict[str, str]] = None


@contextlib.contextmanager
def serve_workers(workers: Sequence[Worker]) -> Iterator[List[str]]:
    """Serve each worker's ``module:app`` from a separate uvicorn process, like the workers of a
    multi-process deployment. All start in parallel (interpreter start-up dominates).

    Yields their base URLs, in order; on exit each process gets SIGTERM and is waited for (then killed).
    """
    ports = []
    for _ in workers:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"{worker.module}:app", "--app-dir", str(worker.module_dir),
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env={**os.environ, **(worker.env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for worker, port in zip(workers, ports)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 3 * STARTUP_TIMEOUT  # cold interpreters on a loaded machine
        for proc, url in zip(procs, urls):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"uvicorn exited: {proc.stderr.read().decode() if proc.stderr else ''}")
                try:
                    httpx.get(url + "/openapi.json", timeout=1.0)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("uvicorn did not start") from None
                    time.sleep(0.05)
        yield urls
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=STARTUP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
