"""Load the generated data (bench/generate.py) into a running platform with `zhihui import`.

    ./dev bench loading               # load a fresh PostgreSQL + ES platform, keep it
    ./dev bench loading --embedded    # the same on SQLite + the embedded index

Prints the run id of the kept platform; benchmarks take it with `--run RUN` and skip loading.
Drop a kept run with `--drop RUN`.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

from bench.generate import DEFAULT_OUT
from bench.stack import PlatformStack
from bench.stack import platform_stack

FILES = (
    ("institutions", "institutions.csv"),
    ("experts", "experts.csv"),
    ("outcomes", "outcomes.jsonl"),
)
_THROUGHPUT = re.compile(r"throughput: (\d+) records in ([\d.]+) s")


def load_generated(
    stack: PlatformStack, data: Path = DEFAULT_OUT, *, batch_size: int = 500
) -> dict[str, dict[str, float]]:
    """Import every generated file in dependency order, then wait until all is searchable."""
    if not (data / "outcomes.jsonl").exists():
        raise SystemExit(f"no generated data in {data}: run `python -m bench.generate` first")
    figures: dict[str, dict[str, float]] = {}
    for library, name in FILES:
        started = time.monotonic()
        done = stack.zhihui_import(library, data / name, "--batch-size", str(batch_size))
        if done.returncode not in (0, 1):  # 1 = some rows rejected, reported in the rejects file
            raise SystemExit(f"import of {name} failed ({done.returncode}):\n{done.stdout[-3000:]}")
        match = _THROUGHPUT.search(done.stdout)
        records = int(match.group(1)) if match else 0
        figures[library] = {
            "records": records,
            "seconds": round(time.monotonic() - started, 2),
            "exit": done.returncode,
        }
        print(f"imported {library}: {records} records in {figures[library]['seconds']} s")
    figures["index_wait"] = {"seconds": round(stack.wait_indexed(), 2)}
    return figures


def server_urls(embedded: bool) -> tuple[str | None, str | None]:
    """The servers `./dev bench` started (its environment), or none for the embedded default."""
    if embedded:
        return None, None
    return os.environ["ZHIHUI_TEST_POSTGRES_URL"], os.environ["ZHIHUI_TEST_ELASTICSEARCH_URL"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--embedded", action="store_true")
    parser.add_argument("--drop", metavar="RUN", help="drop a kept run and exit")
    args = parser.parse_args()
    database_url, elasticsearch_url = server_urls(args.embedded)
    if args.drop:
        with platform_stack(
            database_url=database_url, elasticsearch_url=elasticsearch_url, run=args.drop
        ):
            pass
        return
    with platform_stack(
        database_url=database_url, elasticsearch_url=elasticsearch_url, keep=True
    ) as stack:
        load_generated(stack, args.data)
        print(f"run: {stack.run}")


if __name__ == "__main__":
    main()
