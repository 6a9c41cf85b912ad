"""`python -m bench [--quick] [--json PATH] [--cases ack,e2e,...] [--readme]`."""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.botprocess import REPO
from bench.cases import CASES
from bench.plan import FULL, QUICK
from bench.report import markdown, show, to_json, update_readme, write_json
from bench.results import CaseResult
from bench.stack import Stack

HERE = Path(__file__).resolve().parent


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--json", type=Path, help="where to write the results (JSON)")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}"
    )
    parser.add_argument(
        "--readme", action="store_true", help="also write the figures into bench/README.md"
    )
    parser.add_argument(
        "--bot-source",
        type=Path,
        default=REPO,
        metavar="DIR",
        help="run pexbot serve (and the backup download) from this tree instead, e.g. an "
        "exported commit to compare against (default: this checkout)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    if args.readme and (args.quick or args.bot_source != REPO):
        parser.error("--readme records a full run of this checkout: drop --quick, --bot-source")
    if not (args.bot_source / "bot" / "__main__.py").is_file():
        parser.error(f"--bot-source: no bot/__main__.py in {args.bot_source}")
    args.bot_source = args.bot_source.resolve()
    args.json = args.json or HERE / ("results-quick.json" if args.quick else "results.json")
    return args


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _meta(quick: bool) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in ("slack_bolt", "slack_sdk", "httpx", "httpcore", "uvicorn", "aiohttp"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "commit": _commit(),
        "versions": versions,
        "sniffio_installed": importlib.util.find_spec("sniffio") is not None,
        "plan": asdict(QUICK if quick else FULL),
    }


def run_cases(
    names: list[str], stack: Stack, console: Console, quick: bool
) -> tuple[list[CaseResult], dict[str, str]]:
    plan = QUICK if quick else FULL
    results, errors = [], {}
    for name in names:
        console.print(f"[bold]{name}[/] ...", highlight=False)
        began = time.monotonic()
        try:
            results.append(CASES[name](stack, plan))
            stack.results[name] = results[-1]
        except Exception as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            console.print(f"[bold red]{name} failed[/]: {errors[name]}", highlight=False)
        console.print(f"  {time.monotonic() - began:.1f} s", highlight=False)
    return results, errors


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    meta = _meta(args.quick)
    names = [name for name in CASES if name in args.cases.split(",")]
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="pexbot-bench-") as folder,
        Stack(Path(folder), args.bot_source) as stack,
    ):
        meta["bot_source"] = str(stack.bot_source)  # what the run used
        gc.collect()
        gc.freeze()  # the bench's own start-up objects: no full GC passes over them
        results, errors = run_cases(names, stack, console, args.quick)
        stack.stop_bot()
    meta["seconds"] = round(time.monotonic() - began, 1)
    meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    show(console, results, stack.history)
    write_json(args.json, to_json(meta, results, stack.history, errors))
    console.print(f"results: {args.json}", highlight=False)
    if args.readme:
        update_readme(HERE / "README.md", markdown(meta, results))
        console.print(f"figures written into {HERE / 'README.md'}", highlight=False)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
