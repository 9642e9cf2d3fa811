"""The `zhihui import` subcommand."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from services.cli.importer.mapping import MappingError
from services.cli.importer.mapping import parse_overrides
from services.cli.importer.profiles import LIBRARY_CHOICES
from services.cli.importer.runner import DEFAULT_BATCH_SIZE
from services.cli.importer.runner import EXIT_STOPPED
from services.cli.importer.runner import EXIT_USAGE
from services.cli.importer.runner import ImportOptions
from services.cli.importer.runner import UsageError
from services.cli.importer.runner import run_import
from services.kernel.bulk import MAX_BULK_LINES

EPILOG = """\
examples:
  zhihui import institutions 高校名单.csv --key $KEY
  zhihui import experts 专家.xlsx --map 所在单位=affiliation --source cast-2024 --key $KEY
  zhihui import outcomes csl.jsonl --dry-run --key $KEY
  zhihui import datasets/frontier-questions 难题.csv --key $KEY

CSV files may be UTF-8 (with or without BOM) or GBK/GB18030; the delimiter is detected.
Rows are upserted by (source, external_id): the ID column (编号/ID) or, without one, a hash
of the fields that identify the record; re-running a file changes nothing, a corrected file
updates in place. An interrupted run continues where it stopped when run again.
exit status: 0 all rows imported · 1 some rows rejected (see the rejects file) ·
2 bad usage or unreadable file · 3 stopped (gateway unreachable or refused; run again)
"""


def add_import_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="bulk-import CSV, XLSX, JSON or JSONL files through the gateway",
        description="Import records from files into a library through the gateway's bulk API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "library",
        help=f"{', '.join(LIBRARY_CHOICES[:-1])}, or datasets/SLUG (a special database)",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--gateway",
        default=os.environ.get("ZHIHUI_GATEWAY", "http://127.0.0.1:8000"),
        help="gateway URL (default $ZHIHUI_GATEWAY or http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--key", default=os.environ.get("ZHIHUI_API_KEY"), help="admin API key ($ZHIHUI_API_KEY)"
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD,…",
        help="map columns to fields, e.g. --map 单位名称=name,英文=name_en (COLUMN= ignores one)",
    )
    parser.add_argument(
        "--source", help="the source the records are keyed by (default: each file's name)"
    )
    parser.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"records per bulk request, 1–{MAX_BULK_LINES} (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--rejects", type=Path, help="rejects CSV (default: FILE.rejects.csv beside the file)"
    )
    parser.add_argument(
        "--state", type=Path, help="resume state (default: beside the rejects file)"
    )
    parser.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    try:
        options = ImportOptions(
            target=args.library,
            files=list(args.files),
            gateway=args.gateway,
            key=args.key,
            mapping=parse_overrides(args.map),
            source=args.source,
            dry_run=args.dry_run,
            batch_size=args.batch_size,
            rejects=args.rejects,
            state=args.state,
        )
        report = asyncio.run(run_import(options))
    except (UsageError, MappingError) as exc:
        print(f"zhihui import: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "\ninterrupted: acknowledged rows are recorded; run the same command again to continue",
            file=sys.stderr,
        )
        return 130
    print(report.render())
    return report.exit_code


__all__ = ["EXIT_STOPPED", "add_import_parser", "cmd_import"]
