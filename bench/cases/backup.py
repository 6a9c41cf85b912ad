"""Backup download: a 1 GiB backup file the simulator generates on the fly, downloaded by
`bot.pexip.backups.download_backup` in a child process, against raw loopback copies of the same
bytes (`bench.backup_worker`), in turns: a plain socket copy (no HTTP library), the same socket
copy computing the SHA-256 as it goes, a plain httpx stream into a file, and the same stream
hashed as it goes (what the checksum alone costs). Verifying is part of the work, so the target's
raw copy is the faster of the two that also compute the SHA-256.

Every copy starts from the same memory: its worker first writes as many bytes as it will copy to
a scratch file and deletes it, untimed (`bench.backup_worker.warm_page_cache`). On this virtual
machine writing 1 GiB into the page cache took 2.2-2.6 s when no page-cache pages had come free
in the last seconds and 0.17-0.19 s right after a deleted 1 GiB file's had: the host's cost of
handing back memory the guest released, which made a copy's speed depend on what ran just before
it and on how long its own start-up took (bench/README.md, the backup download, fifth round).
Each round also takes the copies in an order of its own (`orders`, seeded).

Peak RSS growth is the child's VmHWM during the download minus its VmRSS just before (VmHWM reset
through /proc/self/clear_refs). CPU time is the copy's own, every thread of the child (the
worker's `getrusage` around the copy: no start-up, no warm-up)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.botprocess import python_path
from bench.plan import MIB, Plan
from bench.results import CaseResult
from bench.stack import Stack
from bench.stats import median

TITLE = "Backup download (streamed, hashed) against a raw loopback copy"
MAX_GROWTH_MIB = 50.0
MIN_SPEED = 0.80
ORDER_SEED = 13
LABELS = {
    "socket": "socket copy",
    "socket_hashed": "socket copy + SHA-256",
    "httpx": "httpx copy",
    "hashed": "httpx copy + SHA-256",
    "pexbot": "download_backup",
}


def orders(modes: list[str], rounds: int) -> list[list[str]]:
    """The copies' order in each round: seeded (every run the same orders), so that over the
    rounds no copy keeps the same predecessor or place."""
    shuffle = random.Random(ORDER_SEED)
    return [shuffle.sample(modes, len(modes)) for _ in range(rounds)]


def _download(stack: Stack, mode: str, filename: str, folder: Path, size: int) -> dict[str, Any]:
    destination = folder / f"{mode}.download"
    env = {**os.environ, "PYTHONPATH": python_path(stack.bot_source)}
    command = [sys.executable, "-m", "bench.backup_worker", mode, stack.urls.simulator, filename]
    try:
        done = subprocess.run(
            [*command, str(destination), str(size)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"backup worker ({mode}) failed:\n{done.stderr[-2000:]}")
        report: dict[str, Any] = json.loads(done.stdout)
        report["on_disk"] = destination.stat().st_size
    finally:
        destination.unlink(missing_ok=True)
    return report


def run(stack: Stack, plan: Plan) -> CaseResult:
    result = CaseResult("backup", TITLE)
    backup = stack.control.add_backup(plan.backup_size)
    folder = stack.workdir / "downloads"
    folder.mkdir(exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in LABELS}
    for order in orders(list(runs), plan.backup_rounds):
        for mode in order:
            report = _download(stack, mode, backup["filename"], folder, plan.backup_size)
            if report["bytes"] != plan.backup_size or report["on_disk"] != plan.backup_size:
                raise RuntimeError(f"{mode} copied {report['bytes']} of {plan.backup_size} bytes")
            runs[mode].append(report)
    size_mib = plan.backup_size / MIB
    seconds = {mode: median([r["seconds"] for r in reports]) for mode, reports in runs.items()}
    growth = {
        mode: max(r["hwm_kib"] - r["rss_before_kib"] for r in reports) / 1024
        for mode, reports in runs.items()
    }
    cpu: dict[str, float] = {}
    for mode, label in LABELS.items():
        reports = runs[mode]
        result.add(f"{mode}_s", f"{label}: wall time (median)", round(seconds[mode], 3), "s")
        result.add(f"{mode}_mib_s", f"{label}: speed", round(size_mib / seconds[mode], 1), "MiB/s")
        result.add(
            f"{mode}_rss_growth_mib", f"{label}: peak RSS growth", round(growth[mode], 1), "MiB"
        )
        cpu[mode] = median([r["cpu_s"] for r in reports])
        result.add(f"{mode}_cpu_s", f"{label}: CPU time (median)", round(cpu[mode], 2), "s")
    speed = seconds["httpx"] / seconds["pexbot"]
    result.add("speed_vs_httpx", "download_backup speed / httpx copy", round(speed, 2), "×")
    floor = seconds["socket"] / seconds["pexbot"]
    result.add("speed_vs_socket", "download_backup speed / socket copy", round(floor, 2), "×")
    like = seconds["hashed"] / seconds["pexbot"]
    result.add(
        "speed_vs_hashed", "download_backup speed / httpx copy + SHA-256", round(like, 2), "×"
    )
    hashed = seconds["httpx"] / seconds["hashed"]
    result.add("hashed_vs_httpx", "httpx copy + SHA-256 speed / httpx copy", round(hashed, 2), "×")
    result.judge(
        "backup peak RSS growth",
        f"< {MAX_GROWTH_MIB:g} MiB",
        f"{growth['pexbot']:.1f} MiB",
        growth["pexbot"] < MAX_GROWTH_MIB,
    )
    result.add(
        "cpu_vs_socket_hashed",
        "download_backup CPU / socket copy + SHA-256 CPU",
        round(cpu["pexbot"] / cpu["socket_hashed"], 2),
        "×",
    )
    raw = min(seconds["socket_hashed"], seconds["hashed"])
    result.add(
        "speed_vs_raw_hashed",
        "download_backup speed / faster raw copy + SHA-256",
        round(raw / seconds["pexbot"], 2),
        "×",
    )
    per_round = [
        min(socket_hashed["seconds"], hashed["seconds"]) / pexbot["seconds"]
        for socket_hashed, hashed, pexbot in zip(
            runs["socket_hashed"], runs["hashed"], runs["pexbot"], strict=True
        )
    ]
    result.add(
        "speed_vs_raw_hashed_round_min",
        "the same, per round: lowest",
        round(min(per_round), 2),
        "×",
    )
    result.add(
        "speed_vs_raw_hashed_round_max",
        "the same, per round: highest",
        round(max(per_round), 2),
        "×",
    )
    result.notes.append(
        "download_backup speed / faster raw copy + SHA-256, each round (in its order): "
        + ", ".join(f"{ratio:.2f}" for ratio in per_round)
    )
    result.judge(
        "backup speed against a raw copy that also computes SHA-256 "
        "(the faster of socket and httpx)",
        f"≥ {MIN_SPEED:.0%}",
        f"{raw / seconds['pexbot']:.0%}",
        raw / seconds["pexbot"] >= MIN_SPEED,
    )
    result.notes.append(
        f"{size_mib:,.0f} MiB file; {plan.backup_rounds} round(s) of socket, hashed socket, "
        "httpx, hashed httpx and download_backup copies, each round in an order of its own "
        "(seeded), each copy in a fresh process right after an untimed write and delete of as "
        "many bytes (the same warm page cache for every copy), written to a temporary folder on "
        "disk and deleted at once. download_backup computes the SHA-256 as it goes (one thread "
        "receives and writes, another hashes), as the hashed raw copies do."
    )
    return result
