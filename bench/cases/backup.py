"""Backup download: a 1 GiB backup file the simulator generates on the fly, downloaded by
`bot.pexip.backups.download_backup` in a child process, against raw loopback copies of the same
bytes (`bench.backup_worker`), in turns: a plain socket copy (no HTTP library), the same socket
copy computing the SHA-256 as it goes, a plain httpx stream into a file, and the same stream
hashed as it goes (what the checksum alone costs). Verifying is part of the work, so the target's
raw copy is the faster of the two that also compute the SHA-256. Peak RSS growth is the child's
VmHWM during the download minus its VmRSS just before (VmHWM reset through
/proc/self/clear_refs). CPU time is the child's, start-up included (the same imports for every
copy): on a shared 2-core machine it moves far less from run to run than the speed does."""

from __future__ import annotations

import json
import os
import resource
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
LABELS = {
    "socket": "socket copy",
    "socket_hashed": "socket copy + SHA-256",
    "httpx": "httpx copy",
    "hashed": "httpx copy + SHA-256",
    "pexbot": "download_backup",
}


def _download(stack: Stack, mode: str, filename: str, folder: Path) -> dict[str, Any]:
    destination = folder / f"{mode}.download"
    env = {**os.environ, "PYTHONPATH": python_path(stack.bot_source)}
    command = [sys.executable, "-m", "bench.backup_worker", mode, stack.urls.simulator, filename]
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [*command, str(destination)], capture_output=True, text=True, env=env, timeout=600
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"backup worker ({mode}) failed:\n{done.stderr[-2000:]}")
        report: dict[str, Any] = json.loads(done.stdout)
        report["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
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
    for _ in range(plan.backup_rounds):
        for mode in runs:
            report = _download(stack, mode, backup["filename"], folder)
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
    result.judge(
        "backup speed against a raw copy that also computes SHA-256 "
        "(the faster of socket and httpx)",
        f"≥ {MIN_SPEED:.0%}",
        f"{raw / seconds['pexbot']:.0%}",
        raw / seconds["pexbot"] >= MIN_SPEED,
    )
    result.notes.append(
        f"{size_mib:,.0f} MiB file; {plan.backup_rounds} round(s) of socket, hashed socket, "
        "httpx, hashed httpx and download_backup copies, each in a fresh process, written to a "
        "temporary folder on disk and deleted at once. download_backup computes the SHA-256 as "
        "it goes (one thread receives, another writes and hashes), as the hashed raw copies do."
    )
    return result
