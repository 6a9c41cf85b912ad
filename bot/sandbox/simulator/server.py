"""`pexbot simulator`: serve the simulator until interrupted."""

from __future__ import annotations

import logging

import uvicorn

from .app import create_app

log = logging.getLogger("bot.sandbox.simulator")


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    username: str = "admin",
    password: str = "admin",
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> None:
    """Run the simulator on host:port (HTTPS when `tls_cert` is given) until interrupted."""
    scheme = "https" if tls_cert else "http"
    shown = "admin" if password == "admin" else "as given"
    log.info(
        "Pexip management-node simulator on %s://%s:%d (username %s, password %s; "
        "control API at /_sim/)",
        scheme,
        host,
        port,
        username,
        shown,
    )
    uvicorn.run(
        create_app(username=username, password=password),
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level="warning",
        lifespan="off",
    )
