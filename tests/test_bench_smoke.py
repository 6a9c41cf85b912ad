"""`python -m bench --quick`: every benchmark case runs end to end in seconds (real `pexbot
serve`, simulator, Slack stand-in), so the benchmarks cannot rot. The figures themselves are not
judged here: a smoke run is too small, and the machine too noisy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bench.cases import CASES

REPO = Path(__file__).resolve().parent.parent
POSTGRES = "PEXBOT_TEST_POSTGRES_URL"
TARGETS = {
    "ack": 1,  # p99 at concurrency 50
    "baseline": 2,  # pexbot against a bare AsyncApp: p99, acks per second
    "e2e": 2,  # overhead p50, p99
    "vendor": 2,  # one connection: PexipClient, and the bot
    "inflight": 2,  # cap 1, cap 5
    "backup": 2,  # RSS growth, speed
    "busy": 1,  # overhead while a backup downloads, against idle
    "several": 4,  # in flight, commands per second, added ack p99, every command answered
    "startup": 0,
    "events": 4,  # ingest p99, lobby card p95, roster edits, no status-API request
}


def test_quick_run_reports_every_case_with_numbers_and_a_verdict_per_target(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results.json"
    # `several` needs PostgreSQL (CI starts one: PEXBOT_TEST_POSTGRES_URL)
    cases = [name for name in CASES if name != "several" or os.environ.get(POSTGRES)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--json",
            str(results),
            "--cases",
            ",".join(cases),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads(results.read_text())
    assert document["errors"] == {}
    assert set(document["cases"]) == set(cases)
    assert set(CASES) == set(TARGETS)
    for name, case in document["cases"].items():
        assert case["figures"], name
        for key, figure in case["figures"].items():
            assert isinstance(figure["value"], int | float), (name, key)
        assert len(case["targets"]) == TARGETS[name], name
        assert all(isinstance(target["met"], bool) for target in case["targets"]), name
    table = done.stdout
    for name, case in document["cases"].items():
        assert re.search(rf"^│ {name} ", table, re.MULTILINE), name
        for figure in case["figures"].values():
            assert figure["unit"] in table
    verdicts = re.findall(r"│ (met|MISSED) +│", table)
    assert len(verdicts) == sum(TARGETS[name] for name in cases)


def test_bot_source_runs_the_bot_from_that_tree(tmp_path: Path) -> None:
    from bench.__main__ import parse_args
    from bench.botprocess import BotConfig, bot_environment, serve_command

    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "__main__.py").write_text("")
    args = parse_args(["--quick", "--bot-source", str(tmp_path)])
    config = BotConfig(
        "http://sim", "http://slack/api/", "xoxb", "s", tmp_path, tmp_path, 1, args.bot_source
    )
    assert bot_environment(config, 3000)["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path)
    assert serve_command(args.bot_source)[1:] == ["-m", "bot", "serve"]
