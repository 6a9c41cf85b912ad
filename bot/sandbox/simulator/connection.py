"""The TCP connection under a request, reached through the server (uvicorn).

ASGI has no way to drop a connection or tune its socket, so these use the server's transport:
uvicorn's `send` is a method of its request cycle, which holds the connection's transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from starlette.types import Send


def transport_of(send: Send) -> asyncio.Transport | None:
    """The transport of the connection `send` writes to, if the server exposes it."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


def disable_nagle(send: Send) -> None:
    """Set TCP_NODELAY, as a real management node's web server does.

    asyncio sets it itself only on sockets whose protocol number is IPPROTO_TCP; a listening
    socket made with `socket.socket(AF_INET, SOCK_STREAM)` has 0, and its connections would then
    wait for delayed ACKs (about 40 ms per response).
    """
    transport = transport_of(send)
    sock = transport.get_extra_info("socket") if transport else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def close_connection(send: Send) -> None:
    """Abort the connection under this request, whatever has been sent so far."""
    transport = transport_of(send)
    if transport is None:
        raise RuntimeError("cannot drop the connection: the server is not uvicorn")
    transport.abort()
    cycle = getattr(send, "__self__", None)
    for _ in range(10):  # let the server notice, so it does not try to answer itself
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
