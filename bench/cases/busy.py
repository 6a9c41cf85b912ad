"""Moderation while a backup downloads: the e2e case's turns (a direct POST to the node, then the
same kind of command through the bot), taken idle and then while `backup now` downloads a
`plan.busy_backup_size` backup into BACKUP_DOWNLOAD_DIR inside the same bot process (its event
loop, its PexipClient, PEXIP_MAX_CONCURRENCY=1). A busy turn counts only if the download was
still running when the turn ended. Overhead is the e2e case's: bot p50 − direct p50 (the direct
call is slowed by the simulator serving the download too, so it is taken in the same turns)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.cases.e2e import _direct, _through_bot
from bench.load import Slash, no_gc_pauses
from bench.plan import MIB, Plan
from bench.results import CaseResult
from bench.stack import CREDENTIALS, Stack
from bench.stats import ms, percentile

TITLE = "Moderation commands while a backup downloads, against idle"
MAX_RATIO = 2.0


def _empty(folder: Path) -> None:
    for done in folder.iterdir():
        done.unlink()


def _downloading(folder: Path) -> bool:
    return any(folder.glob("*.part"))


def _downloaded(folder: Path) -> int:
    """Bytes of the download in progress written so far (0 if none is)."""
    total = 0
    for part in folder.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):  # it ended meanwhile
            total += part.stat().st_size
    return total


Turn = tuple[float, float]  # (direct call, through the bot), seconds


async def _turn(stack: Stack, plan: Plan, http: httpx.AsyncClient, slash: Slash, i: int) -> Turn:
    direct_p, bot_p = stack.participants[1], stack.participants[2]
    text = stack.mute_texts(i + 1, who=[bot_p])[i]
    direct = await _direct(http, text.split()[0], direct_p)
    return direct, await _through_bot(stack, slash, text, plan)


async def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {seconds:g} s for {what}")
        await asyncio.sleep(0.005)


Progress = tuple[int, float]  # (bytes written, seconds since the download started)


async def _measure(
    stack: Stack, plan: Plan, folder: Path
) -> tuple[list[Turn], list[Turn], int, list[Progress]]:
    idle: list[Turn] = []
    busy: list[Turn] = []
    progress: list[Progress] = []  # per download, at the end of its last busy turn
    last: Progress | None
    rounds = 0
    http = httpx.AsyncClient(base_url=stack.urls.simulator, auth=CREDENTIALS)
    async with http, stack.slash() as slash:
        with no_gc_pauses():
            for i in range(plan.warmup + plan.busy_samples):
                turn = await _turn(stack, plan, http, slash, i)
                if i >= plan.warmup:
                    idle.append(turn)
            i = 0
            while len(busy) < plan.busy_samples and rounds < plan.busy_rounds:
                rounds += 1
                await slash.send("backup now")
                await _wait(lambda: _downloading(folder), 120, "the download to start")
                started, last = time.monotonic(), None
                while _downloading(folder) and len(busy) < plan.busy_samples:
                    turn = await _turn(stack, plan, http, slash, i)
                    i += 1
                    if _downloading(folder):
                        busy.append(turn)
                        last = (_downloaded(folder), time.monotonic() - started)
                if last is not None:
                    progress.append(last)
                await _wait(lambda: not _downloading(folder), 600, "the download to end")
                await asyncio.to_thread(_empty, folder)
    return idle, busy, rounds, progress


def run(stack: Stack, plan: Plan) -> CaseResult:
    result = CaseResult("busy", TITLE)
    folder = stack.workdir / "busy-downloads"
    folder.mkdir(exist_ok=True)
    stack.control.settings(backup_size=plan.busy_backup_size, backup_delay=0.0)
    environment = (
        ("BACKUP_PASSPHRASE", "bench-passphrase"),
        ("BACKUP_CHANNEL", "C0BENCH01"),
        ("BACKUP_DOWNLOAD_DIR", str(folder)),
        ("BACKUP_NOW_COOLDOWN", "0"),
    )
    stack.restart_bot(1, environment)
    try:
        idle, busy, rounds, progress = asyncio.run(_measure(stack, plan, folder))
    finally:
        stack.stop_bot()
        stack.fixtures.forget()
    if not busy:
        raise RuntimeError("no command finished while a backup was downloading")
    overhead: dict[str, float] = {}
    for key, turns in (("idle", idle), ("busy", busy)):
        direct, bot = [t[0] for t in turns], [t[1] for t in turns]
        for pct in (50, 99):
            result.add(f"{key}_bot_p{pct}_ms", f"{key}: bot p{pct}", ms(percentile(bot, pct)), "ms")
            result.add(
                f"{key}_direct_p{pct}_ms",
                f"{key}: direct p{pct}",
                ms(percentile(direct, pct)),
                "ms",
            )
        overhead[key] = percentile(bot, 50) - percentile(direct, 50)
        result.add(f"{key}_overhead_p50_ms", f"{key}: overhead p50", ms(overhead[key]), "ms")
    ratio = overhead["busy"] / overhead["idle"]
    result.add("ratio", "overhead p50 while downloading / idle", round(ratio, 2), "×")
    result.judge(
        "overhead p50 while a backup downloads",
        f"≤ {MAX_RATIO:g}× idle",
        f"{ratio:.2f}×",
        ratio <= MAX_RATIO,
    )
    speeds = [written / MIB / seconds for written, seconds in progress if seconds > 0]
    result.add(
        "busy_download_mib_s",
        "busy: download speed while the commands ran (median of downloads)",
        round(percentile(speeds, 50)),
        "MiB/s",
    )
    result.notes.append(
        f"{len(idle)} idle and {len(busy)} busy turns; {rounds} backup(s) of "
        f"{plan.busy_backup_size / MIB:,.0f} MiB downloaded by `backup now` in the bot process."
    )
    return result
