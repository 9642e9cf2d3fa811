"""Latency measurement shared by the benchmarks: interleaved paths, percentiles, reports.

Machines here are shared and noisy, so a figure means little alone: every benchmark times two
paths to the same answer (the gateway and a baseline) in the same run, alternating request by
request, and reports their ratio.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).parent / "results"

# One request of one path for item i; returns nothing, raises on a wrong answer.
Call = Callable[[int], Awaitable[object]]


def machine_info() -> dict[str, Any]:
    """Where and when a figure was taken: CPU, memory, load when the benchmark started."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model or platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "system": f"{platform.machine()} {platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(seconds: Sequence[float]) -> dict[str, float]:
    """Median and p95 of latencies in milliseconds."""
    return {
        "n": len(seconds),
        "median_ms": round(percentile(seconds, 0.5) * 1000, 2),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 2),
        "mean_ms": round(sum(seconds) / len(seconds) * 1000, 2) if seconds else float("nan"),
    }


def seconds_of(timed: Sequence[tuple[int, float]], items: set[int] | None = None) -> list[float]:
    """The latencies of `interleaved` output, optionally only for some items."""
    return [seconds for item, seconds in timed if items is None or item in items]


def ratio(numerator: Mapping[str, float], denominator: Mapping[str, float]) -> dict[str, float]:
    return {
        "median": round(numerator["median_ms"] / denominator["median_ms"], 3),
        "p95": round(numerator["p95_ms"] / denominator["p95_ms"], 3),
    }


async def interleaved(
    count: int, paths: Mapping[str, Call], *, concurrency: int, rounds: int = 1
) -> dict[str, list[tuple[int, float]]]:
    """(item, seconds) of every path on items 0..count-1, `rounds` times, `concurrency` workers.

    A worker takes the next item and sends it through every path in turn, the order rotating
    with the item so that no path always goes first (and finds caches warmed by the other).
    """
    names = list(paths)
    timings: dict[str, list[tuple[int, float]]] = {name: [] for name in names}
    work = [(r, i) for r in range(rounds) for i in range(count)]
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(work):
            round_, item = work[position]
            position += 1
            shift = (item + round_) % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                await paths[name](item)
                timings[name].append((item, time.perf_counter() - started))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timings


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, columns padded to fit."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(width) if i else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_result(name: str, payload: Mapping[str, Any], out: Path | None = None) -> Path:
    """Write a benchmark's figures as JSON under bench/results/ (or `out`)."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
