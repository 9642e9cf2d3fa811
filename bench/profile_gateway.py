"""Where the gateway spends a request: a second gateway under pyinstrument, replaying a workload.

    ./dev bench profile_gateway --run RUN                    # the search set (bench/queries.py)
    ./dev bench profile_gateway --run RUN --workload reads   # GET /api/v1/outcomes/{id}

Starts one more gateway process of the platform (no indexer) under `pyinstrument`, sends it
the workload `--rounds` times at concurrency 1, stops it, and writes the profile as text and
HTML under bench/results/ (`profile_<workload>.txt|.html`; `.txt` holds the call tree, then
the functions by their own time).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.renderers import HTMLRenderer
from pyinstrument.session import Session

from bench.measure import RESULTS
from bench.platform_paths import GatewaySearch
from bench.platform_paths import http_client
from bench.platform_paths import platform_arguments
from bench.platform_paths import running_platform
from bench.queries import QUERY_COUNT
from bench.queries import build_queries
from bench.queries import resolve
from bench.record_reads import visible_ids
from bench.stack import PlatformStack
from tests.e2e.processes import free_port
from tests.e2e.processes import wait_ready


def start_profiled_gateway(stack: PlatformStack, port: int, out: Path) -> subprocess.Popen[bytes]:
    env = {**stack.env, "ZHIHUI_GATEWAY_PORT": str(port), "ZHIHUI_GATEWAY_RUN_INDEXER": "false"}
    log = stack.data_dir / "gateway-profiled.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "pyinstrument", "--renderer", "session", "--outfile",
                str(out), "-m", "services.cli.main", "serve", "gateway", "--port", str(port),
            ],
            env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}", process, log, timeout=120)
    return process


async def replay(stack: PlatformStack, port: int, workload: str, rounds: int, count: int) -> None:
    async with http_client() as client:
        gateway = GatewaySearch(stack, client)
        if workload == "search":
            queries = await resolve(build_queries(count), gateway.fetch, gateway.find_institution)
            gateway.url = f"http://127.0.0.1:{port}/api/v1/outcomes"
            for _ in range(rounds):
                for query in queries:
                    await gateway.fetch(query.params)
        else:
            ids = await visible_ids(client, stack, "outcomes", count)
            headers = stack.bearer(stack.reader_key)
            for _ in range(rounds):
                for record_id in ids:
                    response = await client.get(
                        f"http://127.0.0.1:{port}/api/v1/outcomes/{record_id}", headers=headers
                    )
                    response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    platform_arguments(parser)
    parser.add_argument("--workload", choices=("search", "reads"), default="search")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=QUERY_COUNT)
    args = parser.parse_args()
    session = RESULTS / f"profile_{args.workload}.pyisession"
    session.parent.mkdir(parents=True, exist_ok=True)
    with running_platform(args.run, args.data) as stack:
        port = free_port()
        process = start_profiled_gateway(stack, port, session)
        try:
            asyncio.run(replay(stack, port, args.workload, args.rounds, args.queries))
        finally:
            process.send_signal(signal.SIGINT)  # uvicorn shuts down; pyinstrument writes
            process.wait(timeout=120)
    print(render(session))


def render(session_path: Path) -> str:
    """The profile as a call tree (text and HTML files) and the top functions by own time."""
    session = Session.load(str(session_path))
    tree = ConsoleRenderer(color=False, unicode=True, show_all=False).render(session)
    flat = ConsoleRenderer(color=False, unicode=True, flat=True).render(session)
    session_path.with_suffix(".txt").write_text(tree + "\n\n" + flat)
    session_path.with_suffix(".html").write_text(HTMLRenderer().render(session))
    top = "\n".join(flat.splitlines()[:60])
    return f"{top}\n\nwritten: {session_path.with_suffix('.txt')} (and .html, .pyisession)"


if __name__ == "__main__":
    main()
