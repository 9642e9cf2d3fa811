"""`zhihui import` throughput on real data, against the platform running as real processes.

    .venv/bin/python -m bench.import_throughput            # embedded default (SQLite files)
    .venv/bin/python -m bench.import_throughput --batch-size 500 --keep

Starts every domain service and the gateway as `zhihui serve` processes on free ports over a
fresh data directory, creates an admin key, then runs the `zhihui import` command itself
on the 2 820 universities (made into a CSV, as an admin would have them) and the 2 000 CSL
papers, each twice (first import, then the re-run where every row is `unchanged`), and
prints records/s. The gateway runs its change-feed indexer, as `zhihui up` does, unless
`--no-indexer`. Figures go to `bench/results/import_throughput.json`. (The same imports in
process, on SQLite and PostgreSQL: `tests/importer/test_throughput.py -s`.)
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.data import SHARED_DATA, universities
from tests.e2e.processes import clean_env, free_port, start_service, start_services, stop, zhihui

RESULTS = Path(__file__).parent / "results"
CSL = SHARED_DATA / "csl-benchmark" / "csl_benchmark_2000.jsonl"
_THROUGHPUT = re.compile(r"throughput: (\d+) records in ([\d.]+) s")


def universities_csv(folder: Path) -> Path:
    path = folder / "全国高等学校名单.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["单位名称", "机构类型", "省份"])
        writer.writerows([name, "高校", province] for name, province in universities())
    return path


def run_import(env: dict[str, str], gateway: str, key: str, *args: str) -> dict[str, object]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "import", *args, "--gateway", gateway,
         "--key", key],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"zhihui import {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    match = _THROUGHPUT.search(done.stdout)
    assert match, done.stdout
    records, seconds = int(match.group(1)), float(match.group(2))
    summary = next(line for line in done.stdout.splitlines() if line.startswith("created "))
    return {
        "records": records,
        "seconds": seconds,
        "records_per_second": round(records / seconds, 1),
        "process_seconds": round(wall, 2),
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--no-indexer", action="store_true", help="do not run the indexer in the gateway"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "import_throughput.json")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="zhihui-import-bench-"))
    services = start_services(data_dir)
    port = free_port()
    env = clean_env(
        data_dir,
        ZHIHUI_GATEWAY_PORT=str(port),
        ZHIHUI_GATEWAY_RUN_INDEXER="false" if args.no_indexer else "true",
        **{f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in services.ports.items()},
    )
    gateway = start_service("gateway", port, env, data_dir / "gateway.log")
    try:
        created = zhihui("keys", "create", "--role", "admin", "--name", "bench", env=env)
        key = re.search(r"secret: (\S+)", created.stdout).group(1)  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        csv_path = universities_csv(data_dir)
        batch = ["--batch-size", str(args.batch_size)]
        figures = {}
        for name, library, path in (
            ("universities", "institutions", csv_path),
            ("csl_papers", "outcomes", CSL),
        ):
            rejects = ["--rejects", str(data_dir / f"{name}.rejects.csv")]
            figures[name] = run_import(env, url, key, library, str(path), *batch, *rejects)
            figures[f"{name}_rerun"] = run_import(
                env, url, key, library, str(path), *batch, *rejects
            )
        result = {
            "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "database": "SQLite (embedded)",
            "indexer": not args.no_indexer,
            "batch_size": args.batch_size,
            "figures": figures,
        }
        print(f"{'import':<26}{'records':>9}{'seconds':>9}{'records/s':>11}")
        for name, figure in figures.items():
            print(
                f"{name:<26}{figure['records']:>9}{figure['seconds']:>9.1f}"
                f"{figure['records_per_second']:>11,.0f}   {figure['summary']}"
            )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        print(f"written to {args.out}")
    finally:
        stop(gateway)
        services.stop_all()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"data kept in {data_dir}")


if __name__ == "__main__":
    main()
