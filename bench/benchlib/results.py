"""The result of one scenario: figures measured per round for each system,
reduced to medians and Strata/Redis ratios when rendered."""

from __future__ import annotations

import datetime as _dt
import statistics
from dataclasses import dataclass, field

SYSTEMS = ("strata", "redis")


def median(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio(strata: float | None, redis: float | None) -> float | None:
    if strata is None or redis is None or redis == 0:
        return None
    return strata / redis


@dataclass
class Figure:
    group: str          # what was run, e.g. "SET -P 1 -d 64"
    metric: str         # what was measured, e.g. "rps"
    unit: str
    better: str = "higher"   # "higher" or "lower" or "" (neither)
    chart: bool = False      # a throughput figure: its ratio goes in the PNG
    values: dict = field(default_factory=lambda: {s: [] for s in SYSTEMS})

    def to_json(self) -> dict:
        return {
            "group": self.group, "metric": self.metric, "unit": self.unit,
            "better": self.better, "chart": self.chart,
            "values": self.values,
            "median": {s: median(self.values[s]) for s in SYSTEMS},
            "ratio": ratio(median(self.values["strata"]), median(self.values["redis"])),
        }


class Result:
    """Accumulates figures, commands and notes for one scenario."""

    def __init__(self, name: str, title: str) -> None:
        self.name = name
        self.title = title
        self.status = "ok"
        self.reason = ""
        self.commands: list[str] = []
        self.notes: list[str] = []
        self.params: dict = {}
        # Column headings of the report's tables when the two systems are not Strata and
        # Redis (e.g. ("Strata batcher", "raw SQLite", "batcher/raw")); values still go under
        # "strata" and "redis".
        self.columns: tuple[str, str, str] | None = None
        # Rounds this scenario ran, when it differs from --rounds (None: as asked).
        self.rounds: int | None = None
        self._figures: dict[tuple[str, str], Figure] = {}

    def add(self, group: str, metric: str, unit: str, system: str, value,
            better: str = "higher", chart: bool = False) -> None:
        key = (group, metric)
        fig = self._figures.get(key)
        if fig is None:
            fig = self._figures[key] = Figure(group, metric, unit, better, chart)
        fig.values[system].append(value)

    def command(self, text: str) -> None:
        if text not in self.commands:
            self.commands.append(text)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def to_json(self, rounds: int, quick: bool, env: dict) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "rounds": rounds,
            "quick": quick,
            "env": env,
            "params": self.params,
            **({"columns": list(self.columns)} if self.columns else {}),
            "commands": self.commands,
            "notes": self.notes,
            "figures": [f.to_json() for f in self._figures.values()],
        }
