"""`zhihui`: the platform's command line (migrate, serve, up, …)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from services.cli import migrations
from services.cli.importer.cli import add_import_parser
from services.cli.indexer import add_indexer_parser
from services.cli.keys import add_keys_parser
from services.cli.reindex import add_reindex_parser
from services.cli.serving import SERVER_OPTIONS
from services.cli.up import run_up
from services.kernel.db import Database
from services.kernel.settings import PlatformSettings
from services.registry import COMPONENTS
from services.registry import service_named


def _database_for(name: str, platform: PlatformSettings) -> Database:
    settings = service_named(name).settings()
    return Database(
        settings.resolved_database_url(platform), schema=settings.resolved_schema(), pool_size=2
    )


async def _migrate(names: Sequence[str], platform: PlatformSettings) -> None:
    for name in names:
        database = _database_for(name, platform)
        try:
            await migrations.upgrade(database, service_named(name))
        finally:
            await database.dispose()
        print(f"migrated {name}")


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply every service's migrations (or the named ones)."""
    platform = PlatformSettings()
    names = args.service or [s.name for s in COMPONENTS]
    asyncio.run(_migrate(names, platform))
    return 0


def cmd_makemigration(args: argparse.Namespace) -> int:
    """Autogenerate a revision for one service from its models (developers)."""
    spec = service_named(args.service)
    asyncio.run(migrations.autogenerate(spec, args.message, args.scratch_url))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one service in this process (what `zhihui up` starts for each service)."""
    import uvicorn

    from services.kernel.logging import configure_logging

    spec = service_named(args.service)
    settings = spec.settings()
    platform = PlatformSettings()
    configure_logging(spec.name, level=platform.log_level, json_lines=platform.log_json)
    uvicorn.run(
        spec.app_factory,
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        **SERVER_OPTIONS,
    )
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Start the whole platform locally (embedded default unless URLs are configured)."""
    return run_up(args.data_dir, sample_data=args.sample_data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhihui", description="智汇中国 platform backend")
    sub = parser.add_subparsers(dest="command", required=True)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--service", action="append", choices=[s.name for s in COMPONENTS])
    migrate.set_defaults(func=cmd_migrate)

    make = sub.add_parser("makemigration", help="autogenerate a migration (developers)")
    make.add_argument("service", choices=[s.name for s in COMPONENTS])
    make.add_argument("-m", "--message", required=True)
    make.add_argument(
        "--scratch-url",
        default="sqlite+aiosqlite:///.local/autogen.sqlite",
        help="empty scratch database to diff against",
    )
    make.set_defaults(func=cmd_makemigration)

    up = sub.add_parser("up", help="start every service locally until Ctrl-C")
    up.add_argument("--data-dir", type=Path, help="where SQLite files and logs live")
    up.add_argument(
        "--sample-data", action="store_true", help="load a small real sample (safe to repeat)"
    )
    up.set_defaults(func=cmd_up)

    add_keys_parser(sub)
    add_import_parser(sub)
    add_reindex_parser(sub)
    add_indexer_parser(sub)

    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=[s.name for s in COMPONENTS])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
