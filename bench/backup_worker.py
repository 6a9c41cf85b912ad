"""One backup download in a process of its own, so that its memory is its own.

    python -m bench.backup_worker MODE SIMULATOR_URL FILENAME DESTINATION [WARM_BYTES]

MODE is one of
- `pexbot`: `bot.pexip.backups.download_backup` (PexipClient, streamed, SHA-256 as it goes);
- `httpx`: a plain copy as a script would write it: an httpx stream into the file, no hashing;
- `hashed`: the same, computing the SHA-256 as it goes, as pexbot does (what the checksum costs);
- `socket`: the same bytes copied off a plain socket into the file, no HTTP library at all;
- `socket_hashed`: the same, computing the SHA-256 as it goes (the raw copy the target is about).
With WARM_BYTES, that many bytes are first written to a scratch file and deleted, untimed
(`warm_page_cache`). Prints one JSON object: seconds and CPU time of the copy (every thread of
the process), bytes, and the process's memory just before the download and at its peak during it
(/proc/self/status).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import resource
import socket
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from bench.load import content_length
from bot.config import PexipSettings
from bot.pexip.backups import BACKUPS, download_backup
from bot.pexip.client import PexipClient

CREDENTIALS = ("admin", "admin")
BUFFER = 1024 * 1024


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> bool:
    """Start VmHWM again from the current RSS (Linux ≥ 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def pexbot_copy(url: str, filename: str, destination: Path) -> int:
    settings = PexipSettings(manager_url=url, username=CREDENTIALS[0], password=CREDENTIALS[1])

    async def download() -> int:
        async with PexipClient(settings) as client:
            return (await download_backup(client, filename, destination)).size

    return asyncio.run(download())


def httpx_copy(url: str, filename: str, destination: Path, *, hashed: bool = False) -> int:
    copied, digest = 0, hashlib.sha256()
    with (
        httpx.Client(base_url=url, auth=CREDENTIALS) as http,
        http.stream("GET", f"{BACKUPS}{quote(filename, safe='')}/") as response,
        destination.open("wb") as out,
    ):
        response.raise_for_status()
        for chunk in response.iter_raw():
            out.write(chunk)
            if hashed:
                digest.update(chunk)
            copied += len(chunk)
    return copied


def hashed_copy(url: str, filename: str, destination: Path) -> int:
    return httpx_copy(url, filename, destination, hashed=True)


def socket_copy(url: str, filename: str, destination: Path, *, hashed: bool = False) -> int:
    """HTTP/1.1 GET written by hand; the body copied from the socket into the file."""
    parts = urlsplit(url)
    auth = base64.b64encode(":".join(CREDENTIALS).encode()).decode()
    request = (
        f"GET {BACKUPS}{quote(filename, safe='')}/ HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Basic {auth}\r\nConnection: close\r\n\r\n"
    )
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    digest = hashlib.sha256()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(request.encode())
        head, body = _read_head(sock)
        length = content_length(head)
        with destination.open("wb") as out:
            out.write(body)
            if hashed:
                digest.update(body)
            copied = len(body)
            while copied < length:
                got = sock.recv_into(view)
                if not got:
                    raise ConnectionError(f"closed after {copied} of {length} bytes")
                out.write(view[:got])
                if hashed:
                    digest.update(view[:got])
                copied += got
    return copied


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n")[0].decode())
    return head, body


def socket_hashed_copy(url: str, filename: str, destination: Path) -> int:
    return socket_copy(url, filename, destination, hashed=True)


COPIES = {
    "pexbot": pexbot_copy,
    "httpx": httpx_copy,
    "hashed": hashed_copy,
    "socket": socket_copy,
    "socket_hashed": socket_hashed_copy,
}


def warm_page_cache(folder: Path, size: int) -> None:
    """Write `size` bytes to a scratch file in `folder` and delete it, just before the timed
    copy. On this VM (virtio balloon) writing 1 GiB into the page cache took 2.2-2.6 s when no
    page-cache pages had been freed in the last seconds, and 0.17-0.19 s right after a deleted
    1 GiB file's pages came free: the host's cost of handing back memory the guest had
    released, not the copy's. Every copy meets the same warm memory this way, whatever ran
    before it and however long its own start-up took (bench/README.md, the backup download)."""
    scratch = folder / ".warm-up"
    zeros = bytes(BUFFER)
    try:
        with scratch.open("wb") as out:
            for _ in range(0, size, BUFFER):
                out.write(zeros)
    finally:
        scratch.unlink(missing_ok=True)


def main() -> None:
    mode, url, filename, destination = sys.argv[1:5]
    warm = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    copy = COPIES[mode]
    if warm:
        warm_page_cache(Path(destination).parent, warm)
    before = status_kib("VmRSS")
    peak_reset = reset_peak()
    used = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    size = copy(url, filename, Path(destination))
    seconds = time.monotonic() - began
    done = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "mode": mode,
        "seconds": seconds,
        "cpu_s": (done.ru_utime - used.ru_utime) + (done.ru_stime - used.ru_stime),
        "bytes": size,
        "rss_before_kib": before,
        "hwm_kib": status_kib("VmHWM"),
        "peak_reset": peak_reset,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
