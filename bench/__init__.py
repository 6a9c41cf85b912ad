"""pexbot benchmarks: `python -m bench [--quick] [--json PATH] [--cases ...] [--readme]`.

Three kinds of process, so that each measurement is taken where it means something:

- the bench process (this one): load generation and timing only (httpx.AsyncClient, HTTP/1.1
  keep-alive, every request signed like Slack signs it);
- the fixtures process: the Pexip simulator and the Slack Web API stand-in, each under uvicorn in
  its own thread (`bench.fixtures`);
- the bot: `pexbot serve` as a real subprocess, configured through its environment
  (`bench.bot`), so its start-up time and memory are the process's own.

Times are `time.monotonic()` (CLOCK_MONOTONIC on Linux: one clock for every process on the
machine), so the stand-in's record of when an outcome message arrived can be subtracted from
the moment the bench sent the slash command.
"""
