"""The results as rich tables, as JSON, and as the Markdown section of bench/README.md."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.results import CaseResult
from bench.stack import BotRecord
from bench.stats import mib

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _bots(bots: Sequence[BotRecord]) -> list[dict[str, Any]]:
    rows = []
    for bot in bots:
        row = asdict(bot)
        row["started_in"] = round(bot.started_in, 3)
        row["at_stop"] = (
            {"rss_mib": mib(bot.at_stop.rss_kib), "hwm_mib": mib(bot.at_stop.hwm_kib)}
            if bot.at_stop
            else None
        )
        rows.append(row)
    return rows


def to_json(
    meta: dict[str, Any],
    results: Sequence[CaseResult],
    bots: Sequence[BotRecord],
    errors: dict[str, str],
) -> dict[str, Any]:
    return {
        "meta": meta,
        "cases": {r.case: r.to_json() for r in results},
        "targets_met": all(t.met for r in results for t in r.targets),
        "bots": _bots(bots),
        "errors": errors,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def show(console: Console, results: Sequence[CaseResult], bots: Sequence[BotRecord]) -> None:
    figures = Table(title="pexbot benchmarks", show_lines=False)
    for column in ("case", "measure", "value"):
        figures.add_column(column, justify="right" if column == "value" else "left")
    for result in results:
        for i, figure in enumerate(result.figures):
            figures.add_row(result.case if i == 0 else "", figure.label, figure.shown())
        figures.add_section()
    console.print(figures)
    targets = Table(title="targets")
    for column in ("case", "target", "wanted", "measured", "verdict"):
        targets.add_column(column)
    for result in results:
        for t in result.targets:
            verdict = "[green]met[/]" if t.met else "[bold red]MISSED[/]"
            targets.add_row(result.case, t.name, t.wanted, t.measured, verdict)
    console.print(targets)
    processes = Table(title="pexbot serve processes of this run")
    for column in ("bot", "cap", "start-up", "commands", "RSS at stop", "peak RSS"):
        processes.add_column(column)
    for row in _bots(bots):
        stop = row["at_stop"] or {}
        processes.add_row(
            row["name"],
            str(row["max_concurrency"]),
            f"{row['started_in']} s",
            str(row["commands"]),
            f"{stop.get('rss_mib', '?')} MiB",
            f"{stop.get('hwm_mib', '?')} MiB",
        )
    console.print(processes)


def markdown(meta: dict[str, Any], results: Sequence[CaseResult]) -> str:
    lines = [
        f"Run of {meta['finished']} on {meta['cpus']} CPUs (load average {meta['load_average']} "
        f"at the start), Python {meta['python']}, commit `{meta['commit']}`, "
        f"{meta['seconds']:.0f} s in all. Full JSON: `bench/results.json`.",
        "",
        "| case | target | wanted | measured | |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for t in r.targets:
            lines.append(f"| {r.case} | {t.name} | {t.wanted} | {t.measured} | {t.verdict} |")
    lines += ["", "| case | measure | value |", "|---|---|---:|"]
    for r in results:
        for i, f in enumerate(r.figures):
            lines.append(f"| {r.case if i == 0 else ''} | {f.label} | {f.shown()} |")
    return "\n".join(lines)


def update_readme(path: Path, section: str) -> None:
    text = path.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {START} ... {END} section")
    path.write_text(pattern.sub(lambda _: f"{START}\n{section}\n{END}", text))
