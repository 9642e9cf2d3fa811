"""One import run: read, map, link, validate, send in batches, record rejects and progress.

Rows are handled in file order. Each batch holds the rows since the last one, valid and
rejected; when it is sent and answered (or, in a dry run, validated), its rejected rows go
to the rejects file and the state file moves to its last row, so an interrupted run
continues exactly after the last acknowledged batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import TextIO

import httpx
import orjson

from services.cli.importer.client import BodyTooLarge
from services.cli.importer.client import GatewayClient
from services.cli.importer.client import GatewayError
from services.cli.importer.linking import Linker
from services.cli.importer.mapping import EXTERNAL_ID
from services.cli.importer.mapping import ColumnMap
from services.cli.importer.mapping import Converted
from services.cli.importer.mapping import MappingError
from services.cli.importer.mapping import Profile
from services.cli.importer.mapping import content_key
from services.cli.importer.mapping import convert
from services.cli.importer.mapping import dataset_profile
from services.cli.importer.mapping import map_columns
from services.cli.importer.profiles import LIBRARY_CHOICES
from services.cli.importer.profiles import PROFILES
from services.cli.importer.progress import Progress
from services.cli.importer.readers import SourceRow
from services.cli.importer.readers import Table
from services.cli.importer.readers import UnreadableFile
from services.cli.importer.readers import read_table
from services.cli.importer.rejects import RejectsFile
from services.cli.importer.state import FileState
from services.cli.importer.state import ImportState
from services.cli.importer.validation import Issue
from services.cli.importer.validation import Problem
from services.cli.importer.validation import assemble
from services.cli.importer.validation import names_to_link
from services.cli.importer.validation import problem_for
from services.cli.importer.validation import validate
from services.datasets.schemas import FieldSpec
from services.kernel.bulk import MAX_BULK_LINES
from services.kernel.text import TextRefused
from services.kernel.text import clean_key

DEFAULT_BATCH_SIZE = 500
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024
STATUSES = ("created", "updated", "unchanged", "rejected")

EXIT_OK, EXIT_REJECTS, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3


class UsageError(Exception):
    """The command cannot run as given (unknown library, bad option)."""


@dataclass
class ImportOptions:
    target: str
    files: list[Path]
    gateway: str = "http://127.0.0.1:8000"
    key: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    dry_run: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_bytes: int = DEFAULT_BATCH_BYTES
    rejects: Path | None = None
    state: Path | None = None
    retries: int = 6
    backoff: float = 0.5
    progress: TextIO | None = None
    tty: bool | None = None


@dataclass
class FileReport:
    path: Path
    rows: int = 0
    format: str = ""
    source: str = ""
    resumed_after: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    complete: bool = False


@dataclass
class ImportReport:
    target: str
    dry_run: bool
    files: list[FileReport] = field(default_factory=list)
    records: int = 0  # lines acknowledged by the gateway in this run
    seconds: float = 0.0
    unmatched: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    linked: int = 0
    rejects_path: Path | None = None
    state_path: Path | None = None
    stopped: str | None = None
    retried: int = 0

    @property
    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for report in self.files:
            total.update(report.counts)
        return total

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        if any(f.error for f in self.files):
            return EXIT_USAGE
        return EXIT_REJECTS if self.counts["rejected"] else EXIT_OK

    def render(self) -> str:
        counts = self.counts
        lines = []
        for report in self.files:
            where = f"{report.path} ({report.format}, {report.rows} rows, source {report.source!r})"
            if report.error:
                lines.append(f"✗ {where}: {report.error}")
                continue
            lines.append(f"{'✓' if report.complete else '…'} {where}")
            if report.resumed_after:
                lines.append(f"    resumed after row {report.resumed_after}")
            if report.unmapped:
                lines.append(f"    columns not imported: {', '.join(report.unmapped)}")
            lines += [f"    note: {note}" for note in report.notes]
        if self.dry_run:
            lines.append(
                f"dry run (nothing written): valid {counts['valid']} · rejected "
                f"{counts['rejected']}"
            )
        else:
            lines.append(" · ".join(f"{s} {counts[s]}" for s in STATUSES))
            lines.append(
                f"throughput: {self.records} records in {self.seconds:.1f} s = "
                f"{self.records_per_second:,.0f} records/s"
            )
        if self.linked or self.unmatched:
            lines.append(f"institutions linked by name: {self.linked}")
        if self.unmatched:
            lines.append(f"institution names not matched (kept as text): {len(self.unmatched)}")
            for name, rows in sorted(self.unmatched.items(), key=lambda kv: -len(kv[1]))[:20]:
                shown = ", ".join(str(r) for _f, r in rows[:5]) + (" …" if len(rows) > 5 else "")
                lines.append(f"    {name} (rows {shown})")
            if len(self.unmatched) > 20:
                lines.append(f"    … and {len(self.unmatched) - 20} more")
        if counts["rejected"] and self.rejects_path:
            lines.append(f"rejected rows and reasons: {self.rejects_path}")
        if self.stopped:
            lines.append(f"STOPPED: {self.stopped}")
            lines.append("run the same command again to continue where it stopped")
        return "\n".join(lines)


@dataclass
class _Entry:
    row: int
    payload: dict[str, Any] | None
    converted: Converted | None
    problems: list[Problem]


class _Stop(Exception):
    pass


@dataclass
class _Plan:
    """One file to import: its rows, report, column map, key in the state file, and where an
    earlier run stopped."""

    table: Table
    report: FileReport
    columns: ColumnMap
    name: str
    entry: FileState | None


class _Batches:
    """Rows gathered into bulk batches, sent in file order with one batch in flight while the
    next is read, linked and validated (the importer's work overlaps the gateway's)."""

    def __init__(self, send: Callable[[list[_Entry]], Awaitable[None]], options: ImportOptions):
        self.send = send
        self.options = options
        self.batch: list[_Entry] = []
        self.pending = 0
        self.pending_bytes = 0
        self.in_flight: asyncio.Future[None] | None = None

    async def add(self, entry: _Entry) -> None:
        self.batch.append(entry)
        if entry.payload is not None:
            self.pending += 1
            self.pending_bytes += len(orjson.dumps(entry.payload)) + 1
        if (
            self.pending >= self.options.batch_size
            or self.pending_bytes >= self.options.batch_bytes
            or len(self.batch) >= 4 * self.options.batch_size  # mostly rejected rows
        ):
            await self.flush()

    async def flush(self) -> None:
        if not self.batch:
            return
        sent, self.batch = self.batch, []
        self.pending = self.pending_bytes = 0
        # One batch in flight at a time keeps the rejects file and the state in file order.
        await self.settle()
        self.in_flight = asyncio.ensure_future(self.send(sent))

    async def settle(self) -> None:
        if self.in_flight is not None:
            sending, self.in_flight = self.in_flight, None
            await sending

    async def abandon(self) -> None:
        """Interrupted: the batch in flight is cancelled, and sent again on the next run."""
        if self.in_flight is not None and not self.in_flight.done():
            self.in_flight.cancel()
            with contextlib.suppress(BaseException):
                await self.in_flight


def default_source(path: Path) -> str:
    """The file's name as the source of its rows (cleaned as keys are)."""
    try:
        return clean_key(path.stem)[:64] or "import"
    except TextRefused:
        return "import"


def default_rejects(files: list[Path]) -> Path:
    first = files[0]
    return first.with_name(f"{first.stem}.rejects.csv")


def default_state(rejects: Path) -> Path:
    name = rejects.name
    stem = name.removesuffix(".rejects.csv") if name.endswith(".rejects.csv") else rejects.stem
    return rejects.with_name(f"{stem}.import-state.json")


def _has_chinese(texts: list[str]) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for text in texts for ch in text)


async def run_import(
    options: ImportOptions,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> ImportReport:
    """Import every file of `options`; the report says what happened (never raises for data)."""
    if not options.files:
        raise UsageError("give at least one file to import")
    if not 1 <= options.batch_size <= MAX_BULK_LINES:
        raise UsageError(f"--batch-size must be between 1 and {MAX_BULK_LINES}")
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    client = GatewayClient(
        options.gateway,
        options.key,
        transport=transport,
        retries=options.retries,
        backoff=options.backoff,
        **extra,
    )
    async with client:
        run = _Run(options, client)
        try:
            await run.execute()
        finally:
            run.report.retried = client.retried
        return run.report


class _Run:
    def __init__(self, options: ImportOptions, client: GatewayClient) -> None:
        self.options = options
        self.client = client
        self.report = ImportReport(options.target, options.dry_run)
        self.linker = Linker(client.match)
        self.dataset_fields: list[FieldSpec] = []
        self.stream = options.progress or sys.stderr
        self.started = time.monotonic()

    async def execute(self) -> None:
        options = self.options
        try:
            profile = await self._profile()
        except GatewayError as exc:
            self.report.stopped = str(exc)
            return
        tables: list[Table | None] = []
        for path in options.files:
            try:
                tables.append(read_table(path))
            except UnreadableFile as exc:
                tables.append(None)
                self.report.files.append(FileReport(path, error=str(exc)))
        headers = [h for t in tables if t for h in t.headers]
        chinese = _has_chinese(headers)
        rejects_path = options.rejects or default_rejects(options.files)
        state_path = options.state or default_state(rejects_path)
        self.report.rejects_path = rejects_path
        self.report.state_path = None if options.dry_run else state_path
        state = ImportState(state_path) if options.dry_run else ImportState.load(state_path)
        plans = []
        for table in tables:
            if table is None:
                continue
            report = FileReport(table.path, rows=len(table.rows), format=table.describe())
            report.source = options.source or default_source(table.path)
            report.notes += table.notes
            self.report.files.append(report)
            try:
                columns = map_columns(table.headers, profile, options.mapping)
            except MappingError as exc:
                report.error = str(exc)
                continue
            report.unmapped = columns.unmapped
            name = str(table.path.resolve())
            entry = state.resume_point(name, table.sha256, profile.library, report.source)
            plans.append(_Plan(table, report, columns, name, entry))
        rejects = RejectsFile(rejects_path, chinese=chinese)
        rejects.start({str(p.table.path): p.entry.row for p in plans if p.entry is not None})
        try:
            for plan in plans:
                await self._file(profile, plan, state, rejects)
        except _Stop:
            pass
        finally:
            self.report.seconds = time.monotonic() - self.started
            self.report.unmatched = self.linker.unmatched
            self.report.linked = self.linker.linked

    async def _profile(self) -> Profile:
        target = self.options.target.strip("/")
        if target.startswith("datasets/"):
            slug = target.removeprefix("datasets/")
            if not slug or "/" in slug:
                raise UsageError("give the special database as datasets/SLUG")
            try:
                definition = await self.client.dataset(slug)
            except GatewayError as exc:
                if exc.status == 404:
                    raise UsageError(
                        f"no special database {slug!r} (see GET /api/v1/datasets)"
                    ) from exc
                raise
            self.dataset_fields = [FieldSpec.model_validate(f) for f in definition["fields"]]
            return dataset_profile(slug, self.dataset_fields)
        if target not in PROFILES:
            raise UsageError(
                f"unknown library {target!r}; choose {', '.join(LIBRARY_CHOICES[:-1])} or "
                f"{LIBRARY_CHOICES[-1]}"
            )
        return PROFILES[target]

    async def _file(
        self, profile: Profile, plan: _Plan, state: ImportState, rejects: RejectsFile
    ) -> None:
        options = self.options
        table, report, entry = plan.table, plan.report, plan.entry
        label = str(table.path)
        start = entry.row if entry else 0
        report.resumed_after = start
        counts: Counter[str] = Counter(entry.counts if entry else {})
        report.counts = counts
        run = entry.run if entry and entry.run else uuid.uuid4().hex
        done = sum(1 for r in table.rows if r.number <= start)
        progress = Progress(
            table.path.name, len(table.rows), start=done, stream=self.stream, tty=options.tty
        )
        seen: dict[str, tuple[int, bytes]] = {}
        records_before = self.report.records

        async def acknowledge(sent: list[_Entry]) -> None:
            nonlocal done
            await self._flush(profile, sent, counts, rejects.chinese, label, rejects, run)
            done += len(sent)
            if not options.dry_run:
                state.record(
                    plan.name,
                    FileState(table.sha256, profile.library, report.source, sent[-1].row,
                              False, dict(counts), run),
                )  # fmt: skip
            progress.update(done, self.report.records - records_before)

        batches = _Batches(acknowledge, options)
        try:
            for chunk in _chunked(table.rows, options.batch_size):
                converted = {
                    row.number: convert(row.cells, plan.columns, profile)
                    for row in chunk
                    if row.error is None
                }
                await self.linker.prefetch(
                    name
                    for number, row_fields in converted.items()
                    if number > start
                    for name in names_to_link(profile, row_fields)
                )
                for row in chunk:
                    entry_ = await self._row(
                        profile, row, converted.get(row.number), plan.columns, report, seen,
                        row.number <= start, rejects.chinese,
                    )  # fmt: skip
                    if entry_ is not None:
                        await batches.add(entry_)
            await batches.flush()
            await batches.settle()
        except GatewayError as exc:
            progress.finish()
            self.report.stopped = f"{label}: {exc}"
            raise _Stop from exc
        finally:
            await batches.abandon()
        progress.finish()
        report.complete = True
        if not options.dry_run:
            state.record(
                plan.name,
                FileState(table.sha256, profile.library, report.source,
                          table.rows[-1].number if table.rows else 0, True, dict(counts), run),
            )  # fmt: skip

    async def _row(
        self,
        profile: Profile,
        row: SourceRow,
        converted: Converted | None,
        columns: ColumnMap,
        report: FileReport,
        seen: dict[str, tuple[int, bytes]],
        resumed: bool,
        chinese: bool,
    ) -> _Entry | None:
        """The row's batch entry (`converted`: its cells converted, None if unreadable); None
        for a row already handled before a resume."""
        if row.error is not None or converted is None:
            if resumed:
                return None
            issue = Issue((), row.error or "unreadable row", "unreadable_row")
            message = problem_for(issue, profile, Converted({}, {}), chinese=chinese).message
            return _Entry(row.number, None, None, [Problem("", "", message)])
        given = converted.fields.get(EXTERNAL_ID)
        external_id = str(given) if given is not None else content_key(profile, converted.fields)
        digest = hashlib.sha256(
            orjson.dumps(converted.fields, option=orjson.OPT_SORT_KEYS, default=str)
        ).digest()
        earlier = seen.get(external_id)
        if earlier is None:
            seen[external_id] = (row.number, digest)
        if resumed:
            return None
        if earlier is not None:
            return _Entry(
                row.number, None, converted,
                [_duplicate(earlier, digest, external_id, columns, chinese)],
            )  # fmt: skip
        payload, issues = await assemble(
            profile,
            converted,
            source=report.source,
            external_id=external_id,
            linker=self.linker,
            where=(str(report.path), row.number),
        )
        linked_locs = {issue.loc for issue in issues}
        issues += [
            issue
            for issue in validate(profile, payload, self.dataset_fields)
            if issue.loc not in linked_locs
        ]
        if issues:
            problems = [problem_for(i, profile, converted, chinese=chinese) for i in issues]
            return _Entry(row.number, None, converted, problems)
        return _Entry(row.number, payload, converted, [])

    async def _flush(
        self,
        profile: Profile,
        batch: list[_Entry],
        counts: Counter[str],
        chinese: bool,
        label: str,
        rejects: RejectsFile,
        run: str,
    ) -> None:
        to_send = [e for e in batch if e.payload is not None]
        if to_send:
            if self.options.dry_run:
                counts["valid"] += len(to_send)
            else:
                results = await self._send(profile, to_send, run)
                self.report.records += len(results)
                for item, result in zip(to_send, results, strict=True):
                    status = str(result.get("status"))
                    if status == "rejected":
                        assert item.converted is not None
                        item.problems = [
                            problem_for(
                                Issue(tuple(e.get("loc") or ()), str(e.get("msg")),
                                      str(e.get("type"))),
                                profile, item.converted, chinese=chinese,
                            )
                            for e in result.get("errors") or [{}]
                        ]  # fmt: skip
                    else:
                        counts[status] += 1
        rejected = [e for e in batch if e.problems]
        counts["rejected"] += len(rejected)
        rejects.add(
            (label, e.row, p.field, p.value, p.message) for e in rejected for p in e.problems
        )

    async def _send(self, profile: Profile, items: list[_Entry], run: str) -> list[dict[str, Any]]:
        """Per-line results in the order of `items`; a batch too large is split in two."""
        body = b"".join(orjson.dumps(e.payload) + b"\n" for e in items)
        # The same batch of the same run (a retry, a resume) has the same key.
        key = f"zhihui-import-{run}-{hashlib.sha256(body).hexdigest()[:32]}"
        try:
            answer = await self.client.bulk(profile.path, body, idempotency_key=key)
        except BodyTooLarge:
            if len(items) == 1:
                return [
                    {
                        "status": "rejected",
                        "errors": [
                            {"loc": [], "msg": "the record is larger than the gateway accepts",
                             "type": "too_large"}
                        ],
                    }
                ]  # fmt: skip
            half = len(items) // 2
            return await self._send(profile, items[:half], run) + await self._send(
                profile, items[half:], run
            )
        results = sorted(answer.get("results", []), key=lambda r: r.get("line", 0))
        if len(results) != len(items):
            raise GatewayError(
                f"the gateway answered {len(results)} results for {len(items)} lines"
            )
        return results


def _chunked(rows: Sequence[SourceRow], size: int) -> Iterator[Sequence[SourceRow]]:
    """The rows in consecutive runs of `size` (a batch's worth, whose names are prefetched)."""
    for first in range(0, len(rows), size):
        yield rows[first : first + size]


def _duplicate(
    earlier: tuple[int, bytes], digest: bytes, external_id: str, columns: ColumnMap, chinese: bool
) -> Problem:
    row, earlier_digest = earlier
    header = columns.header_of(EXTERNAL_ID) or ("编号" if chinese else EXTERNAL_ID)
    if earlier_digest == digest:
        message = (
            f"重复行：与第 {row} 行内容相同，已跳过"
            if chinese
            else f"duplicate of row {row}; skipped"
        )
    elif columns.has_id_column:
        message = (
            f"编号重复：与第 {row} 行相同但内容不同，请确认保留哪一行"
            if chinese
            else f"same external ID as row {row} but different content; keep one of them"
        )
    else:
        message = (
            f"与第 {row} 行是同一条记录（名称等标识字段相同）但内容不同；请合并，或加一列“编号”区分"
            if chinese
            else f"same record as row {row} (same identifying fields) but different content; "
            "merge them or add an ID column"
        )
    return Problem(header, external_id if columns.has_id_column else "", message)
