"""Run an ASGI app on a real local port in a background thread (tests, demo, benchmarks).

The simulator and the Slack Web API stand-in are ordinary HTTP servers; running them under
uvicorn in their own thread and event loop means the code under test talks to them over real
sockets, exactly as it talks to a management node or to Slack.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any, Literal

import uvicorn


class BackgroundServer:
    """`with BackgroundServer(app) as server: server.url` — stops the server on exit."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        log_level: str = "warning",
        lifespan: Literal["auto", "on", "off"] = "off",
        **uvicorn_options: Any,
    ) -> None:
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on such sockets, and without it
        # every response waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.scheme = "https" if ssl_certfile else "http"
        config = uvicorn.Config(
            app,
            log_level=log_level,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            lifespan=lifespan,
            timeout_graceful_shutdown=1,
            **uvicorn_options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"asgi:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
