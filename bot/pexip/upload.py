"""A file upload as a multipart/form-data body (RFC 7578) streamed from disk.

httpx's `files=` reads an open file on the event loop; a restore package can be gigabytes, so
the body is produced here instead: the form's text fields, then the file read in a worker
thread a piece at a time, with a Content-Length known up front (the node need not accept
chunked uploads). Memory stays at one piece whatever the file's size.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PIECE = 1024 * 1024


def _quoted(value: str) -> str:
    """A name or filename inside a Content-Disposition header (RFC 7578 4.2)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass(frozen=True)
class MultipartFile:
    """Text `fields` and one file sent as form field `name`."""

    fields: Mapping[str, Any]
    name: str
    path: Path
    boundary: str = field(default_factory=lambda: secrets.token_hex(16))

    def _head(self) -> bytes:
        parts = [
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(key)}"'
            f"\r\n\r\n{value}\r\n"
            for key, value in self.fields.items()
        ]
        parts.append(
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="{_quoted(self.name)}"; filename="{_quoted(self.path.name)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        return "".join(parts).encode()

    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    def headers(self) -> dict[str, str]:
        length = len(self._head()) + self.path.stat().st_size + len(self._tail())
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(length),
        }

    async def stream(self) -> AsyncIterator[bytes]:
        yield self._head()
        package = await asyncio.to_thread(self.path.open, "rb")
        try:
            while piece := await asyncio.to_thread(package.read, PIECE):
                yield piece
        finally:
            await asyncio.to_thread(package.close)
        yield self._tail()
