"""How much each case does: the issue's counts, or tiny ones for a smoke run (`--quick`)."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Plan:
    quick: bool = False
    warmup: int = 30
    ack_commands: int = 1000
    ack_concurrency: tuple[int, ...] = (1, 10, 50)
    e2e_samples: int = 1000
    e2e_by_name_samples: int = 300
    vendor_commands: int = 200
    inflight_commands: int = 200
    inflight_caps: tuple[int, ...] = (1, 5)
    inflight_latency: float = 0.01
    backup_size: int = GIB
    backup_rounds: int = 4
    baseline_rounds: int = 12
    busy_samples: int = 200
    busy_backup_size: int = GIB
    busy_rounds: int = 20
    startup_starts: int = 3
    startup_load: int = 1000
    startup_load_concurrency: int = 10
    outcome_timeout: float = 180.0
    events_per_second: int = 200
    events_seconds: float = 10.0
    lobby_guests: int = 100
    roster_joins: int = 100
    several_processes: int = 4
    several_commands: int = 300
    several_concurrency: int = 8
    several_latency: float = 0.01
    several_rounds: int = 8


QUICK = Plan(
    quick=True,
    warmup=3,
    ack_commands=60,
    e2e_samples=10,
    e2e_by_name_samples=5,
    vendor_commands=20,
    inflight_commands=20,
    backup_size=16 * MIB,
    backup_rounds=1,
    baseline_rounds=1,
    busy_samples=5,
    busy_backup_size=256 * MIB,
    busy_rounds=3,
    startup_starts=1,
    startup_load=20,
    outcome_timeout=30.0,
    events_seconds=1.0,
    lobby_guests=5,
    roster_joins=20,
    several_processes=2,
    several_commands=20,
    several_rounds=1,
)
FULL = Plan()
