"""Peak resident memory of processes (and their children) while a benchmark runs.

    with RssSampler({"gateway": pid, ...}) as sampler:
        ...  # the measured work
    sampler.peaks_mb()  # {"gateway": 143.2, ...}

A background thread polls psutil every `interval` seconds; a process's figure is the sum of
its own RSS and its descendants' (uvicorn workers, subprocesses), so the peak is what the
component as a whole held at its worst sampled moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Mapping
from types import TracebackType

import psutil

MB = 1024 * 1024


def _tree_sum(process: psutil.Process, measure: Callable[[psutil.Process], float]) -> float:
    """`measure` summed over a process and its descendants (vanished ones count 0)."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0.0
    for member in members:
        try:
            total += measure(member)
        except psutil.Error:
            continue
    return total


def tree_rss(process: psutil.Process) -> int:
    """RSS of a process plus all its descendants, in bytes."""
    return int(_tree_sum(process, lambda member: member.memory_info().rss))


def tree_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU time of a process and its descendants so far, in seconds."""
    return _tree_sum(process, lambda member: sum(member.cpu_times()[:2]))


class RssSampler:
    """Samples the RSS of named process trees in a thread; keeps the first and peak values."""

    def __init__(self, pids: Mapping[str, int], interval: float = 0.05) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.interval = interval
        self.start_bytes: dict[str, int] = {}
        self.peak_bytes: dict[str, int] = dict.fromkeys(pids, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        for name, process in self.processes.items():
            rss = tree_rss(process)
            self.start_bytes.setdefault(name, rss)
            self.peak_bytes[name] = max(self.peak_bytes[name], rss)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def start(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def __enter__(self) -> RssSampler:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def peaks_mb(self) -> dict[str, float]:
        return {name: round(value / MB, 1) for name, value in self.peak_bytes.items()}

    def starts_mb(self) -> dict[str, float]:
        return {name: round(value / MB, 1) for name, value in self.start_bytes.items()}

    def report(self) -> dict[str, dict[str, float]]:
        """Per process: RSS at the start and the peak, in MB."""
        starts = self.starts_mb()
        return {
            name: {"start_mb": starts.get(name, 0.0), "peak_mb": peak}
            for name, peak in self.peaks_mb().items()
        }
