"""`zhihui reindex`: rebuild search indexes, or replay the change feeds from the start."""

from __future__ import annotations

import argparse
import asyncio

from services.gateway.indexer.feeds import IndexerStore
from services.gateway.indexer.reindex import reindex_library
from services.gateway.search.components import create_backend
from services.gateway.search.components import create_search
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.kernel.db import Database
from services.kernel.settings import PlatformSettings
from services.registry import GATEWAY
from services.registry import SERVICES


async def _rebuild(libraries: list[str]) -> None:
    components = create_search(create_backend(PlatformSettings()))
    try:
        for library in libraries:
            report = await reindex_library(components, library)
            how = "new index swapped in" if report.swapped else "rewritten in place"
            print(f"{library}: {report.documents} documents, {report.took_ms} ms ({how})")
    finally:
        await components.close()


async def _replay(feeds: list[str]) -> None:
    settings = GATEWAY.settings()
    database = Database(
        settings.resolved_database_url(PlatformSettings()), schema=settings.resolved_schema()
    )
    try:
        store = IndexerStore(database)
        for feed in feeds:
            await store.reset(feed, 0)
            print(f"{feed}: cursor reset to 0; the running indexer replays the feed")
    finally:
        await database.dispose()


def run_reindex(args: argparse.Namespace) -> int:
    if args.from_feeds:
        asyncio.run(_replay(args.library or [s.name for s in SERVICES]))
    else:
        asyncio.run(_rebuild(args.library or list(LIBRARY_SCHEMAS)))
    return 0


def add_reindex_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "reindex", help="rebuild search indexes (zero downtime on Elasticsearch)"
    )
    parser.add_argument(
        "--library",
        action="append",
        help=f"{', '.join(s.name for s in SERVICES)} (default: all)",
    )
    parser.add_argument(
        "--from-feeds",
        action="store_true",
        help="instead, reset the indexer cursors so every change feed is replayed from the start",
    )
    parser.set_defaults(func=run_reindex)
