"""What a case returns: figures, and a judgement for each target of the issue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured value: `key` in the JSON, `label` and `unit` in the table."""

    key: str
    label: str
    value: float | int | str
    unit: str = ""

    def shown(self) -> str:
        value = f"{self.value:,.2f}" if isinstance(self.value, float) else str(self.value)
        if isinstance(self.value, float) and self.value >= 100:
            value = f"{self.value:,.0f}"
        return f"{value} {self.unit}".strip()


@dataclass(frozen=True)
class Target:
    """A target of the issue, the figure it is judged on and whether it is met."""

    name: str
    wanted: str
    measured: str
    met: bool

    @property
    def verdict(self) -> str:
        return "met" if self.met else "MISSED"


@dataclass
class CaseResult:
    case: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, label: str, value: float | int | str, unit: str = "") -> None:
        self.figures.append(Figure(key, label, value, unit))

    def judge(self, name: str, wanted: str, measured: str, met: bool) -> None:
        self.targets.append(Target(name, wanted, measured, met))

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "figures": {f.key: {"value": f.value, "unit": f.unit} for f in self.figures},
            "targets": [
                {"name": t.name, "target": t.wanted, "measured": t.measured, "met": t.met}
                for t in self.targets
            ],
            "notes": self.notes,
        }
