"""Import throughput end to end: `zhihui import` of the generated outcomes until all are searchable.

    ./dev bench import_throughput                       # bench/data: 100 000 outcomes
    ./dev bench import_throughput --data /tmp/small     # a set from `bench.generate --out`
    ./dev bench import_throughput --embedded            # SQLite + the embedded index, no baseline

On a fresh platform (bench/stack.py: every component a `zhihui serve` process, PostgreSQL
schemas and an Elasticsearch index prefix of its own) the institutions the outcomes name are
imported first, for the importer to link them (`--with-experts` adds the experts, whose
names the outcomes' bylines only print; these figures are reported, not compared). Then the
measured step: `zhihui import outcomes` of `outcomes.jsonl`, from the command's start until
it has returned AND the gateway's indexer has applied every change (`stack.wait_indexed`)
AND a search counts every record (the index refreshes once a second): validated, linked,
stored and searchable. Its records/s is compared with the raw baseline
(bench/baseline_raw.py: COPY + `_bulk` of the same file on the same servers), run just before
and just after the platform, so the ratio (ours / mean raw) is taken under the same load.

While the outcomes import runs, the RSS of every platform process and of the importer
(children included) is sampled every 0.5 s (bench/rss.py), and each one's CPU seconds are
recorded: where the time went. Figures go to `bench/results/import_throughput.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.baseline_raw import raw_baseline
from bench.generate import DEFAULT_OUT
from bench.loading import FILES
from bench.loading import server_urls
from bench.measure import machine_info
from bench.measure import table
from bench.measure import write_result
from bench.rss import RssSampler
from bench.rss import tree_cpu_seconds
from bench.stack import PlatformStack
from bench.stack import platform_stack

TARGET_RATIO = 0.35
RSS_INTERVAL_SECONDS = 0.5


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants so far (0 if gone)."""
    try:
        return tree_cpu_seconds(psutil.Process(pid))
    except psutil.Error:
        return 0.0


def searchable_count(stack: PlatformStack) -> int:
    """Outcomes the gateway's search finds (the admin sees every visibility)."""
    response = httpx.get(
        f"{stack.gateway_url}/api/v1/outcomes",
        params={"page_size": 1, "select": "id"},
        headers=stack.bearer(stack.admin_key),
        timeout=60,
    )
    response.raise_for_status()
    return int(response.json()["meta"]["count"])


def wait_searchable(stack: PlatformStack, records: int, timeout: float = 60) -> int:
    """Poll the search count until it reaches `records` (or `timeout` s); the count found."""
    deadline = time.monotonic() + timeout
    while (found := searchable_count(stack)) < records and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def import_prerequisites(
    stack: PlatformStack, data: Path, batch_size: int, *, experts: bool
) -> dict[str, Any]:
    """Institutions (and experts): each one's seconds and records/s until searchable."""
    figures: dict[str, Any] = {}
    for library, name in FILES[: 2 if experts else 1]:
        started = time.monotonic()
        done = stack.zhihui_import(library, data / name, "--batch-size", str(batch_size))
        if done.returncode not in (0, 1):
            raise SystemExit(f"import of {name} failed ({done.returncode}):\n{done.stdout[-3000:]}")
        imported = time.monotonic() - started
        indexed = stack.wait_indexed()
        rows = sum(1 for _ in (data / name).open(encoding="utf-8-sig")) - 1
        total = imported + indexed
        figures[library] = {
            "records": rows,
            "import_seconds": round(imported, 2),
            "searchable_seconds": round(total, 2),
            "records_per_second": round(rows / total, 1),
        }
        print(f"prerequisite {library}: {rows} records searchable in {total:.1f} s")
    return figures


def measure_outcomes(stack: PlatformStack, data: Path, batch_size: int) -> dict[str, Any]:
    """The measured import: seconds to return, seconds to searchable, memory, CPU."""
    path = data / "outcomes.jsonl"
    records = sum(1 for line in path.open(encoding="utf-8") if line.strip())
    platform_pids = stack.pids()
    cpu_before = {name: cpu_seconds(pid) for name, pid in platform_pids.items()}
    log = stack.data_dir / "import-outcomes.log"
    started = time.monotonic()
    with log.open("wb") as output:
        importer = subprocess.Popen(
            stack.import_command("outcomes", path, "--batch-size", str(batch_size)),
            env=stack.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        with RssSampler(
            {**platform_pids, "importer": importer.pid}, interval=RSS_INTERVAL_SECONDS
        ) as sampler:
            importer_cpu = 0.0
            while importer.poll() is None:
                importer_cpu = max(importer_cpu, cpu_seconds(importer.pid))
                time.sleep(RSS_INTERVAL_SECONDS)
            imported = time.monotonic() - started
            stack.wait_indexed(poll=0.1)
            # Applied is not yet visible: a search sees it after the next index refresh.
            found = wait_searchable(stack, records)
            searchable = time.monotonic() - started
    if importer.returncode not in (0, 1):
        raise SystemExit(f"the outcomes import failed ({importer.returncode}): see {log}")
    cpu = {
        name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in platform_pids.items()
    }
    cpu["importer"] = round(importer_cpu, 1)
    return {
        "records": records,
        "searchable_after_import": found,
        "import_seconds": round(imported, 2),
        "searchable_seconds": round(searchable, 2),
        "index_lag_seconds": round(searchable - imported, 2),
        "records_per_second": round(records / searchable, 1),
        "importer_exit": importer.returncode,
        "importer_summary": log.read_text(encoding="utf-8", errors="replace").splitlines()[-6:],
        "memory_mb": sampler.report(),
        "cpu_seconds": cpu,
    }


def report(figures: dict[str, Any]) -> str:
    ours = figures["ours"]
    rows = [
        ["zhihui import, searchable", ours["records"], ours["searchable_seconds"],
         ours["records_per_second"], figures.get("ratio", "-")],
    ]  # fmt: skip
    for label, raw in figures.get("raw", {}).items():
        rows.append([f"raw COPY + _bulk ({label})", raw["records"], raw["seconds"],
                     raw["records_per_second"], ""])  # fmt: skip
    lines = [table(["outcomes", "records", "seconds", "records/s", "ratio"], rows), ""]
    lines.append(
        f"import returned after {ours['import_seconds']} s, searchable "
        f"{ours['index_lag_seconds']} s later; {ours['searchable_after_import']} found by search"
    )
    memory = ours["memory_mb"]
    lines += ["", table(
        ["process", "RSS start MB", "RSS peak MB", "CPU s"],
        [[name, m["start_mb"], m["peak_mb"], ours["cpu_seconds"].get(name, "")]
         for name, m in memory.items()],
    )]  # fmt: skip
    if "ratio" in figures:
        verdict = "met" if figures["ratio"] >= TARGET_RATIO else "NOT met"
        lines.append(f"\ntarget ≥ {TARGET_RATIO}× the raw baseline: {verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--embedded", action="store_true", help="SQLite + embedded index")
    parser.add_argument("--with-experts", action="store_true", help="import the experts first")
    parser.add_argument("--out", type=Path, help="JSON output (default bench/results/…)")
    args = parser.parse_args()
    if not (args.data / "outcomes.jsonl").exists():
        raise SystemExit(f"no generated data in {args.data}: run `./dev bench generate` first")
    database_url, elasticsearch_url = server_urls(args.embedded)
    figures: dict[str, Any] = {
        "machine": machine_info(),
        "data": str(args.data),
        "batch_size": args.batch_size,
        "backend": "embedded" if args.embedded else "postgresql+elasticsearch",
    }
    outcomes = args.data / "outcomes.jsonl"

    def raw(label: str) -> None:
        if database_url and elasticsearch_url:
            found = asyncio.run(raw_baseline(database_url, elasticsearch_url, outcomes))
            figures.setdefault("raw", {})[label] = found.as_dict()
            print(f"raw baseline ({label}): {found.records_per_second:.0f} records/s")

    raw("before")
    with platform_stack(database_url=database_url, elasticsearch_url=elasticsearch_url) as stack:
        figures["prerequisites"] = import_prerequisites(
            stack, args.data, args.batch_size, experts=args.with_experts
        )
        figures["ours"] = measure_outcomes(stack, args.data, args.batch_size)
    raw("after")
    if "raw" in figures:
        rates = [r["records_per_second"] for r in figures["raw"].values()]
        figures["raw_records_per_second"] = round(sum(rates) / len(rates), 1)
        figures["ratio"] = round(
            figures["ours"]["records_per_second"] / figures["raw_records_per_second"], 3
        )
    print(report(figures))
    print(f"results: {write_result('import_throughput', figures, args.out)}")


if __name__ == "__main__":
    main()
