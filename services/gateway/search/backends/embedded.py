"""The zero-setup search backend: one SQLite file with FTS5 and BM25.

Layout of the file:

- `libraries`: one row per library (name, schema JSON, the text fields its FTS table indexes).
- `docs`: one narrow row per (library, id): version, tombstone flag, visibility, owner, label,
  suggest hint. A tombstone keeps its row (and version) and loses everything else. `rid` is
  the row id every other table uses.
- `bodies`: (rid, source JSON, raw tokens JSON) of live documents; the tokens let the FTS table
  be rebuilt when a library gains text fields, and let FTS5 delete a contentless row.
- `vals`: one row per distinct filter value (rid, field, pos, value, plus the document's
  library, visibility and owner), typed as SQLite stores it: TEXT for keywords and ISO dates,
  INTEGER/REAL for numbers, 0/1 for booleans; `pos` 0 is the first value (what sorting uses).
  Primary key (rid, field, pos) for sort keys and per-match lookups; `vals_by_value` (lib,
  field, value, visibility, owner_org) for filters, facets, stats and `referencing`.
- `suggest`: (key, rid), a prefix range scan on the key.
- `fts_<lib>`: one contentless FTS5 table per library, a column per text field, rowid = rid.

Tokens arrive pre-analysed and must stay whole words, whatever characters they contain. FTS5
sees each token as the hex encoding of its UTF-8 bytes, so no tokenizer rule (CJK, marks,
symbols, case folding, diacritics) can split or alter it, and a query token is always a quoted
hex string: user text can never become FTS5 syntax. Every other condition is bound SQL.
A query is `(g1) AND (g2) …`, each group `(alt OR alt)`, an alternative `("t1" AND "t2")` or,
for phrases, the FTS5 phrase `"t1 t2"` (adjacent, in order); exclusions become
`(positive) NOT (excluded)`, or `rid NOT IN (…)` when nothing positive is asked. Alternatives
whose tokens are all empty are dropped (a group of only such alternatives constrains nothing).

Scores are `-bm25()` (FTS5's BM25 is negative, lower is better), weighted per column by
TextField.boost, each library with its own statistics. Multi-library search merges on that
score as is: the same formula with the same weights, like Elasticsearch across indices without
DFS. FTS5 floors the IDF of a term found in more than half of a library's documents at 1e-6,
so such scores are tiny but still positive.

Writes to a library that `ensure_library` never created raise IndexUnavailable (as on
Elasticsearch); reads of one find nothing. The planner's statistics (ANALYZE) are refreshed as
the data grows; facets pick a plan by the number of matches (see `_Counting`).

All SQLite work runs off the event loop: writes on one writer thread and connection (one
transaction per call), reads on two reader threads with a connection each; WAL lets readers
work while the writer writes, and each read runs in one transaction, so a search's hits,
total and facets come from one snapshot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import threading
import unicodedata
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TypeVar

from services.gateway.search.backends.base import IndexUnavailable
from services.gateway.search.model import FacetBucket
from services.gateway.search.model import FieldKind
from services.gateway.search.model import FilterClause
from services.gateway.search.model import FilterField
from services.gateway.search.model import Hit
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import Scalar
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SearchResult
from services.gateway.search.model import StatsBucket
from services.gateway.search.model import Suggestion
from services.gateway.search.model import Terms
from services.gateway.search.model import TextQuery
from services.kernel.visibility import VisibilityScope

T = TypeVar("T")

_SCHEMA_VERSION = 1
_READERS = 2
_CHUNK = 500  # ids per `IN (...)` list
# Facets look up each match's values when matches are at most 1/8 of the documents; above
# that, scanning the field's index and testing membership is cheaper (measured at 100 000).
_DRIVE_FROM_MATCHES = 8
# ANALYZE (the planner's statistics) again once this many documents, and at least as many as
# were there at the last ANALYZE, have been written: at 1 000, 2 000, 4 000, … documents.
_ANALYZE_EVERY = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS libraries (
    lib INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    schema TEXT,
    fts_columns TEXT
);
CREATE TABLE IF NOT EXISTS docs (
    rid INTEGER PRIMARY KEY,
    lib INTEGER NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    visibility TEXT,
    owner_org TEXT,
    label TEXT,
    suggest_hint TEXT,
    UNIQUE (lib, id)
);
CREATE TABLE IF NOT EXISTS bodies (
    rid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    tokens TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vals (
    rid INTEGER NOT NULL,
    field TEXT NOT NULL,
    pos INTEGER NOT NULL,
    value NOT NULL,
    lib INTEGER NOT NULL,
    visibility TEXT,
    owner_org TEXT,
    PRIMARY KEY (rid, field, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vals_by_value ON vals (lib, field, value, visibility, owner_org);
CREATE TABLE IF NOT EXISTS suggest (
    key TEXT NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (key, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS suggest_by_rid ON suggest (rid);
"""
# `vals.value` has no declared type on purpose: no affinity, so values keep the storage class
# they were written with (a keyword "2020" stays TEXT, a year 2020 stays INTEGER). `vals` rows
# exist only for live documents and repeat the document's library, visibility and owner, so
# facets and statistics over a whole library are one scan of `vals_by_value`. `docs` is kept
# narrow (the bulky `source` and `tokens` live in `bodies`) so that scanning it is cheap.


# --- values and tokens ------------------------------------------------------------------------


def _stored(value: Any) -> Any:
    """A filter value as SQLite stores and compares it; also JSON-safe (sort_values)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _coerce(value: Any, kind: FieldKind) -> Any:
    """A filter argument converted to the field's kind, then to its stored form."""
    if kind is FieldKind.INTEGER and isinstance(value, str):
        value = int(value)
    elif kind is FieldKind.NUMBER and isinstance(value, str):
        value = float(value)
    elif kind is FieldKind.BOOLEAN and isinstance(value, str):
        value = value.strip().lower() in ("1", "true", "yes")
    elif kind is FieldKind.DATE and isinstance(value, datetime):
        value = value.date()
    return _stored(value)


def _loaded(value: Any, kind: FieldKind) -> Scalar:
    """A stored value back in the field's Python type (facets and stats)."""
    if kind is FieldKind.BOOLEAN:
        return bool(value)
    if kind is FieldKind.DATE and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    if kind is FieldKind.KEYWORD and not isinstance(value, str):
        return str(value)
    return value


def _encode(token: str) -> str:
    """The FTS5 form of one token: its UTF-8 bytes in hex, a single [0-9a-f]+ word."""
    return token.encode("utf-8").hex()


def _split(tokens: Iterable[str]) -> list[str]:
    return [t for token in tokens for t in token.split()]


def _column_text(tokens: str | None) -> str:
    return " ".join(_encode(t) for t in (tokens or "").split())


def _quoted(token: str) -> str:
    # Hex never contains a quote; doubling keeps the rule explicit should the encoding change.
    return '"' + _encode(token).replace('"', '""') + '"'


# A word matched by a share of its tokens is an OR of every subset of that size; beyond this
# many tokens (a very long word) all of them are asked for instead, to bound the expression.
MAX_PARTIAL_TOKENS = 10


def _alternative(terms: Terms) -> str | None:
    tokens = _split(terms.tokens)
    if not tokens:
        return None
    if len(tokens) == 1:
        return _quoted(tokens[0])
    if terms.phrase:
        return '"' + " ".join(_encode(t) for t in tokens) + '"'
    distinct = list(dict.fromkeys(tokens))
    needed = min(terms.needed, len(distinct))
    if needed < len(distinct) <= MAX_PARTIAL_TOKENS:
        subsets = itertools.combinations(distinct, needed)
        return "(" + " OR ".join(_all_of(subset) for subset in subsets) + ")"
    return _all_of(distinct)


def _all_of(tokens: Sequence[str]) -> str:
    return "(" + " AND ".join(_quoted(t) for t in tokens) + ")"


def _any_of(alternatives: Iterable[Terms]) -> str | None:
    parts = [p for p in (_alternative(a) for a in alternatives) if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _match_expressions(text: TextQuery | None) -> tuple[str | None, str | None]:
    """(positive, negative) FTS5 expressions; alternatives without tokens are dropped."""
    if text is None:
        return None, None
    groups = [g for g in (_any_of(group) for group in text.groups) if g is not None]
    positive = " AND ".join(groups) if groups else None
    negative = _any_of(text.excluded)
    return positive, negative


def normalise_prefix(prefix: str) -> str:
    return unicodedata.normalize("NFKC", prefix).lower().strip()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


# --- query plans ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Library:
    lib: int
    name: str
    fts: str | None  # table name, None when the library has no text fields (yet)
    weights: tuple[float, ...]
    default_sort: tuple[tuple[str, bool], ...]
    # Text fields whose whole values a query may equal (stored in `vals` as `exact:<name>`).
    exact_fields: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class _Sql:
    text: str
    params: list[Any]


def _visibility(scope: VisibilityScope, table: str = "d") -> _Sql | None:
    """VisibilityScope.admits as SQL on `table`.visibility / `table`.owner_org."""
    if scope.levels is None:
        return None
    levels = sorted(str(level) for level in scope.levels)
    parts, params = [], []
    if levels:
        parts.append(f"{table}.visibility IN ({', '.join('?' * len(levels))})")
        params.extend(levels)
    if scope.own_org is not None:
        parts.append(f"{table}.owner_org = ?")
        params.append(scope.own_org)
    if not parts:
        return _Sql("0", [])
    return _Sql("(" + " OR ".join(parts) + ")", params)


def _filter(clause: FilterClause, lib: int) -> _Sql:
    kind = clause.field.kind
    conditions, params = [], []
    if clause.values:
        values = [_coerce(v, kind) for v in clause.values]
        conditions.append(f"value IN ({', '.join('?' * len(values))})")
        params.extend(values)
    if clause.lower is not None or clause.upper is not None:
        bounds = []
        if clause.lower is not None:
            bounds.append("value >= ?")
            params.append(_coerce(clause.lower, kind))
        if clause.upper is not None:
            bounds.append("value <= ?")
            params.append(_coerce(clause.upper, kind))
        conditions.append("(" + " AND ".join(bounds) + ")")
    where = "lib = ? AND field = ?"
    if conditions:
        where += " AND (" + " OR ".join(conditions) + ")"
    sql = f"d.rid IN (SELECT rid FROM vals WHERE {where})"
    if clause.negate:
        sql = f"NOT {sql}"
    return _Sql(sql, [lib, clause.field.name, *params])


def _exact_bonus(library: _Library, text: TextQuery | None) -> _Sql | None:
    """What a whole field value equal to the query (or one of its words) adds to the score."""
    if text is None or not text.exact or not library.exact_fields:
        return None
    marks = ", ".join("?" * len(text.exact))
    parts, params = [], []
    for name, boost in library.exact_fields:
        parts.append(
            "(CASE WHEN EXISTS (SELECT 1 FROM vals AS x WHERE x.rid = d.rid AND x.field = ? "
            f"AND x.value IN ({marks})) THEN ? ELSE 0 END)"
        )
        params.extend([exact_field(name), *text.exact, boost])
    return _Sql(" + ".join(parts), params)


def exact_field(name: str) -> str:
    """The `vals` field of a text field's whole values (no declared field has a colon)."""
    return f"exact:{name}"


def _matching(
    libraries: Sequence[_Library], request: SearchRequest, *, scored: bool = True
) -> _Sql | None:
    """SELECT rid, id, library, score of every matching visible document; None if none can.

    Unscored, the score column is NULL (counts, facets and stats need no BM25).
    """
    positive, negative = _match_expressions(request.text)
    visibility = _visibility(request.scope)
    selects: list[str] = []
    params: list[Any] = []
    for library in libraries:
        where = ["d.lib = ?", "d.deleted = 0"]
        where_params: list[Any] = [library.lib]
        if positive is not None:
            if library.fts is None:
                continue  # nothing to match text against
            fts = library.fts
            select_params: list[Any] = [library.name]
            score = "NULL"
            if scored:
                score = f"-bm25({fts}, {', '.join('?' * len(library.weights))})"
                select_params.extend(library.weights)
                bonus = _exact_bonus(library, request.text)
                if bonus is not None:
                    score = f"{score} + {bonus.text}"
                    select_params.extend(bonus.params)
            select = (
                f"SELECT d.rid AS rid, d.id AS id, ? AS library, {score} AS score"
                f" FROM {fts} CROSS JOIN docs AS d ON d.rid = {fts}.rowid"
            )
            expression = positive if negative is None else f"({positive}) NOT ({negative})"
            where.insert(0, f"{fts} MATCH ?")
            where_params.insert(0, expression)
        else:
            select = "SELECT d.rid AS rid, d.id AS id, ? AS library, NULL AS score FROM docs AS d"
            select_params = [library.name]
            if negative is not None and library.fts is not None:
                fts = library.fts
                where.append(f"d.rid NOT IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)")
                where_params.append(negative)
        conditions = [_filter(clause, library.lib) for clause in request.filters]
        if visibility is not None:
            conditions.insert(0, visibility)
        for condition in conditions:
            where.append(condition.text)
            where_params.extend(condition.params)
        selects.append(f"{select} WHERE {' AND '.join(where)}")
        params.extend(select_params)
        params.extend(where_params)
    if not selects:
        return None
    return _Sql(" UNION ALL ".join(selects), params)


@dataclass(frozen=True, slots=True)
class _Counting:
    """How facets and stats reach the matching documents' values.

    "whole": no text and no filters, `vals` alone (visibility from its own columns);
    "drive": few matches, look up each one's values; "probe": many matches, scan the field's
    values and test membership in `rids`; "none": nothing matches.
    """

    kind: str
    libs: list[int]
    rids: _Sql | None  # SELECT rid … of the matching documents
    scope: VisibilityScope | None


@dataclass(frozen=True, slots=True)
class _Key:
    column: str  # in the page query
    descending: bool
    field: str | None  # a FilterField name; None for the score


def _sort_keys(libraries: Sequence[_Library], request: SearchRequest) -> list[_Key]:
    positive, _ = _match_expressions(request.text)
    wanted: list[tuple[str, bool]]
    if request.sort:
        wanted = [(k.field, k.descending) for k in request.sort]
    elif positive is not None:
        wanted = [("relevance", True)]
    elif len(libraries) == 1:
        wanted = list(libraries[0].default_sort)
    else:
        wanted = []
    keys: list[_Key] = []
    for i, (name, descending) in enumerate(wanted):
        if name == "relevance":
            keys.append(_Key("m.score", True, None))
        else:
            keys.append(_Key(f"k{i}.value", descending, name))
    return keys


def _after(keys: Sequence[_Key], values: Sequence[Any]) -> _Sql:
    """Rows strictly after `values` in ORDER BY (key IS NULL), key [DESC] order: NULLs last."""
    alternatives: list[str] = []
    params: list[Any] = []
    equal: list[str] = []
    equal_params: list[Any] = []
    for key, value in zip(keys, values, strict=True):
        value = None if value is None else _stored(value)
        if value is None:
            after, after_params = None, []  # nothing sorts after a missing value
            same, same_params = f"{key.column} IS NULL", []
        else:
            op = "<" if key.descending else ">"
            after = f"({key.column} {op} ? OR {key.column} IS NULL)"
            after_params = [value]
            same, same_params = f"{key.column} = ?", [value]
        if after is not None:
            alternatives.append("(" + " AND ".join([*equal, after]) + ")")
            params.extend([*equal_params, *after_params])
        equal.append(same)
        equal_params.extend(same_params)
    if not alternatives:
        return _Sql("0", [])
    return _Sql("(" + " OR ".join(alternatives) + ")", params)


# --- the backend ------------------------------------------------------------------------------


class EmbeddedBackend:
    """SearchBackend on one SQLite file (created on first use), FTS5 + BM25."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._init_lock = threading.Lock()
        self._initialised = False
        self._closed = False
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._analysed_at: int | None = None  # documents at the last ANALYZE (writer only)
        self._written = 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="search-writer")
        self._readers = ThreadPoolExecutor(_READERS, thread_name_prefix="search-reader")

    # -- plumbing --

    def _initialise(self) -> None:
        with self._init_lock:
            if self._initialised:
                return
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)  # idempotent: IF NOT EXISTS throughout
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                elif version != _SCHEMA_VERSION:
                    raise IndexUnavailable(
                        f"{self._path} has search index format {version}, "
                        f"this code reads {_SCHEMA_VERSION}: rebuild it (zhihui reindex)"
                    )
            finally:
                conn.close()
            self._initialised = True

    def _connection(self, writer: bool = False) -> sqlite3.Connection:
        """This thread's connection (each executor thread keeps one)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self._initialise()
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=30
            )
            # A committed write is on disk before upsert() returns: the indexer then advances
            # its feed cursor, so a write lost in a power cut would never be re-applied.
            conn.execute(f"PRAGMA synchronous={'FULL' if writer else 'NORMAL'}")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA cache_size=-32000")
            conn.execute("PRAGMA mmap_size=268435456")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _read_tx(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """One snapshot for the whole read; rolled back, which also empties temp tables."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            return work(conn)
        finally:
            conn.execute("ROLLBACK")

    def _write_tx(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection(writer=True)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _run(
        self, executor: ThreadPoolExecutor, tx: Callable[..., T], work: Callable[..., T]
    ) -> T:
        if self._closed:
            raise IndexUnavailable("the embedded search index is closed")
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(executor, tx, work)
        except RuntimeError as exc:  # closed meanwhile: the executor takes no more work
            raise IndexUnavailable("the embedded search index is closed") from exc
        try:
            return await future
        except sqlite3.Error as exc:
            raise IndexUnavailable(f"embedded search index {self._path}: {exc}") from exc

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._readers, self._read_tx, work)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._writer, self._write_tx, work)

    # -- libraries --

    @staticmethod
    def _lib_id(conn: sqlite3.Connection, name: str, create: bool) -> int | None:
        row = conn.execute("SELECT lib FROM libraries WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        lib = conn.execute("INSERT INTO libraries (name) VALUES (?)", (name,)).lastrowid
        assert lib is not None  # set by every INSERT of a row
        return lib

    @classmethod
    def _existing(cls, conn: sqlite3.Connection, name: str) -> int:
        """The library a write goes to; like Elasticsearch, never created by a write."""
        lib = cls._lib_id(conn, name, create=False)
        if lib is None:
            raise IndexUnavailable(f"library {name!r} does not exist: call ensure_library first")
        return lib

    @staticmethod
    def _fts_columns(conn: sqlite3.Connection, lib: int) -> list[str] | None:
        row = conn.execute("SELECT fts_columns FROM libraries WHERE lib = ?", (lib,)).fetchone()
        return None if row is None or row[0] is None else list(json.loads(row[0]))

    @staticmethod
    def _libraries(conn: sqlite3.Connection, names: Sequence[str]) -> list[_Library]:
        found: list[_Library] = []
        for name in dict.fromkeys(names):
            row = conn.execute(
                "SELECT lib, schema, fts_columns FROM libraries WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                continue  # never created: no documents
            lib, schema_json, columns_json = row
            schema = json.loads(schema_json) if schema_json else {}
            boosts = dict(schema.get("text_fields", []))
            exact = tuple((str(n), float(b)) for n, b in schema.get("exact_fields", []))
            columns = json.loads(columns_json) if columns_json else []
            found.append(
                _Library(
                    lib=lib,
                    name=name,
                    fts=f"fts_{lib}" if columns else None,
                    weights=tuple(float(boosts.get(c, 1.0)) for c in columns),
                    default_sort=tuple((f, bool(d)) for f, d in schema.get("default_sort", [])),
                    exact_fields=exact,
                )
            )
        return found

    async def ensure_library(self, schema: LibrarySchema) -> None:
        columns = list(dict.fromkeys(f.name for f in schema.text_fields))
        stored = {
            "label": schema.label,
            "text_fields": [[f.name, f.boost] for f in schema.text_fields],
            "exact_fields": [[f.name, f.exact_boost] for f in schema.text_fields if f.exact_boost],
            "default_sort": [list(s) for s in schema.default_sort],
            "fields": {name: str(f.kind) for name, f in schema.fields.items()},
        }

        def work(conn: sqlite3.Connection) -> None:
            lib = self._lib_id(conn, schema.name, create=True)
            assert lib is not None
            conn.execute("UPDATE libraries SET schema = ? WHERE lib = ?", (_json(stored), lib))
            if self._fts_columns(conn, lib) != (columns or None):
                self._rebuild_fts(conn, lib, columns)

        await self._write(work)

    @staticmethod
    def _rebuild_fts(conn: sqlite3.Connection, lib: int, columns: list[str]) -> None:
        """(Re)create a library's FTS table for `columns` and index the stored tokens."""
        fts = f"fts_{lib}"
        conn.execute(f"DROP TABLE IF EXISTS {fts}")
        if not columns:
            conn.execute("UPDATE libraries SET fts_columns = NULL WHERE lib = ?", (lib,))
            return
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        conn.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='', tokenize='ascii')"
        )
        conn.execute("UPDATE libraries SET fts_columns = ? WHERE lib = ?", (_json(columns), lib))
        insert = f"INSERT INTO {fts} (rowid, {names}) VALUES (?, {', '.join('?' * len(columns))})"
        rows = conn.execute(
            "SELECT d.rid, b.tokens FROM docs AS d JOIN bodies AS b ON b.rid = d.rid "
            "WHERE d.lib = ? AND d.deleted = 0",
            (lib,),
        )
        batch: list[list[Any]] = []
        for rid, tokens_json in rows:
            tokens = json.loads(tokens_json or "{}")
            batch.append([rid, *(_column_text(tokens.get(c)) for c in columns)])
            if len(batch) >= 1000:
                conn.executemany(insert, batch)
                batch.clear()
        if batch:
            conn.executemany(insert, batch)

    async def drop_library(self, name: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            lib = self._lib_id(conn, name, create=False)
            if lib is None:
                return
            conn.execute(f"DROP TABLE IF EXISTS fts_{lib}")
            rids = "SELECT rid FROM docs WHERE lib = ?"
            conn.execute(f"DELETE FROM vals WHERE rid IN ({rids})", (lib,))
            conn.execute(f"DELETE FROM suggest WHERE rid IN ({rids})", (lib,))
            conn.execute(f"DELETE FROM bodies WHERE rid IN ({rids})", (lib,))
            conn.execute("DELETE FROM docs WHERE lib = ?", (lib,))
            conn.execute("DELETE FROM libraries WHERE lib = ?", (lib,))

        await self._write(work)

    # -- writes --

    @staticmethod
    def _unindex(conn: sqlite3.Connection, lib: int, rid: int, columns: list[str]) -> None:
        """Remove a live document's FTS entry, values, suggest keys and body.

        The FTS table is contentless: FTS5's 'delete' command needs the exact column texts that
        were indexed, which the stored `tokens` (raw, encoded the same way) reproduce.
        """
        body = conn.execute("SELECT tokens FROM bodies WHERE rid = ?", (rid,)).fetchone()
        if columns and body is not None:
            tokens = json.loads(body[0])
            names = ", ".join(f"c{i}" for i in range(len(columns)))
            conn.execute(
                f"INSERT INTO fts_{lib} (fts_{lib}, rowid, {names}) "
                f"VALUES ('delete', ?, {', '.join('?' * len(columns))})",
                [rid, *(_column_text(tokens.get(c)) for c in columns)],
            )
        conn.execute("DELETE FROM vals WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM suggest WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM bodies WHERE rid = ?", (rid,))

    async def upsert(self, documents: Sequence[IndexDocument]) -> None:
        if not documents:
            return

        def work(conn: sqlite3.Connection) -> None:
            libs: dict[str, tuple[int, list[str]]] = {}
            for document in documents:
                if document.library not in libs:
                    lib = self._existing(conn, document.library)
                    libs[document.library] = (lib, self._fts_columns(conn, lib) or [])
                lib, columns = libs[document.library]
                self._upsert_one(conn, lib, columns, document)
            self._maybe_analyse(conn, len(documents))

        await self._write(work)

    def _upsert_one(
        self, conn: sqlite3.Connection, lib: int, columns: list[str], document: IndexDocument
    ) -> None:
        row = conn.execute(
            "SELECT rid, version, deleted FROM docs WHERE lib = ? AND id = ?", (lib, document.id)
        ).fetchone()
        fields = (
            document.version,
            document.visibility,
            document.owner_org,
            document.label,
            document.suggest_hint,
        )
        if row is None:
            rid = conn.execute(
                "INSERT INTO docs (lib, id, version, deleted, visibility, owner_org, label, "
                "suggest_hint) VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
                (lib, document.id, *fields),
            ).lastrowid
        else:
            rid, version, deleted = row
            if document.version <= version:
                return  # stale or re-delivered
            if not deleted:
                self._unindex(conn, lib, rid, columns)
            conn.execute(
                "UPDATE docs SET version = ?, deleted = 0, visibility = ?, owner_org = ?, "
                "label = ?, suggest_hint = ? WHERE rid = ?",
                (*fields, rid),
            )
        conn.execute(
            "INSERT INTO bodies (rid, source, tokens) VALUES (?, ?, ?)",
            (rid, _json(document.source), _json(document.tokens)),
        )
        shared = (lib, document.visibility, document.owner_org)
        values = []
        stored_values = {
            **document.values,
            **{exact_field(name): list(items) for name, items in document.exact.items()},
        }
        for name, items in stored_values.items():
            seen: set[Any] = set()
            for item in items if isinstance(items, list | tuple) else [items]:
                if item is None:
                    continue
                stored = _stored(item)
                key = (type(stored), stored)
                if key not in seen:
                    seen.add(key)
                    values.append((rid, name, len(seen) - 1, stored, *shared))
        conn.executemany(
            "INSERT INTO vals (rid, field, pos, value, lib, visibility, owner_org) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        keys = dict.fromkeys(normalise_prefix(k) for k in document.suggest)
        conn.executemany(
            "INSERT INTO suggest (key, rid) VALUES (?, ?)", [(k, rid) for k in keys if k]
        )
        if columns:
            names = ", ".join(f"c{i}" for i in range(len(columns)))
            conn.execute(
                f"INSERT INTO fts_{lib} (rowid, {names}) "
                f"VALUES (?, {', '.join('?' * len(columns))})",
                [rid, *(_column_text(document.tokens.get(c)) for c in columns)],
            )

    def _maybe_analyse(self, conn: sqlite3.Connection, written: int) -> None:
        """Keep the query planner's statistics in step with the data as it grows (writer only).

        Without them SQLite guesses that `docs.lib = ?` is selective and scans a whole library
        to apply a selective filter; ANALYZE costs ~0.2 s per 100 000 documents, and runs at
        geometrically spaced sizes, so its total cost stays proportional to the data.
        """
        if self._analysed_at is None:
            try:
                row = conn.execute(
                    "SELECT stat FROM sqlite_stat1 WHERE idx = 'sqlite_autoindex_docs_1'"
                ).fetchone()
            except sqlite3.OperationalError:  # no statistics yet
                row = None
            self._analysed_at = int(row[0].split()[0]) if row else 0
        self._written += written
        if self._written >= max(_ANALYZE_EVERY, self._analysed_at):
            conn.execute("ANALYZE")
            self._analysed_at = conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
            self._written = 0

    async def delete(self, library: str, record_id: str, version: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            lib = self._existing(conn, library)
            row = conn.execute(
                "SELECT rid, version, deleted FROM docs WHERE lib = ? AND id = ?", (lib, record_id)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO docs (lib, id, version, deleted) VALUES (?, ?, ?, 1)",
                    (lib, record_id, version),
                )
                return
            rid, stored_version, deleted = row
            if version <= stored_version:
                return
            if not deleted:
                self._unindex(conn, lib, rid, self._fts_columns(conn, lib) or [])
            conn.execute(
                "UPDATE docs SET version = ?, deleted = 1, visibility = NULL, owner_org = NULL, "
                "label = NULL, suggest_hint = NULL WHERE rid = ?",
                (version, rid),
            )

        await self._write(work)

    # -- reads for the indexer --

    async def sources(self, library: str, ids: Sequence[str]) -> dict[str, dict]:
        wanted = list(dict.fromkeys(ids))

        def work(conn: sqlite3.Connection) -> dict[str, dict]:
            lib = self._lib_id(conn, library, create=False)
            found: dict[str, dict] = {}
            if lib is None:
                return found
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = conn.execute(
                    "SELECT d.id, b.source FROM docs AS d JOIN bodies AS b ON b.rid = d.rid "
                    f"WHERE d.lib = ? AND d.id IN ({', '.join('?' * len(chunk))})",
                    [lib, *chunk],
                )
                found.update((record_id, json.loads(source)) for record_id, source in rows)
            return found

        if not wanted:
            return {}
        return await self._read(work)

    async def referencing(self, library: str, field: str, value: str) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            lib = self._lib_id(conn, library, create=False)
            if lib is None:
                return []
            rows = conn.execute(
                "SELECT DISTINCT d.id FROM vals AS v JOIN docs AS d ON d.rid = v.rid "
                "WHERE v.lib = ? AND v.field = ? AND v.value = ? ORDER BY d.id",
                (lib, field, _stored(value)),
            )
            return [r[0] for r in rows]

        return await self._read(work)

    # -- search --

    async def search(self, request: SearchRequest) -> SearchResult:
        return await self._read(lambda conn: self._search(conn, request))

    def _search(self, conn: sqlite3.Connection, request: SearchRequest) -> SearchResult:
        libraries = self._libraries(conn, request.libraries)
        counted = _matching(libraries, request, scored=False)
        if counted is None:
            return SearchResult(total=0, hits=[], facets={f.name: [] for f in request.facets})
        total = conn.execute(f"SELECT COUNT(*) FROM ({counted.text})", counted.params)
        result = SearchResult(total=int(total.fetchone()[0]), hits=[])
        if request.size > 0 and result.total > 0:
            result.hits = self._page(conn, request, libraries)
        if request.facets:
            plan = self._counting_plan(
                conn, libraries, request, result.total, reuse=len(request.facets) > 1
            )
            for facet in request.facets:
                rows = self._grouped(conn, plan, [facet], request.facet_size)
                result.facets[facet.name] = [
                    FacetBucket(_loaded(value, facet.kind), int(n)) for value, n in rows
                ]
        return result

    @staticmethod
    def _page(
        conn: sqlite3.Connection, request: SearchRequest, libraries: Sequence[_Library]
    ) -> list[Hit]:
        matching = _matching(libraries, request)
        assert matching is not None
        keys = _sort_keys(libraries, request)
        multi = len(request.libraries) > 1
        all_keys = [*keys, _Key("m.id", False, None)]
        if multi:
            all_keys.append(_Key("m.library", False, None))
        columns = ["m.rid", "m.id", "m.library", "m.score"]
        joins: list[str] = []
        params: list[Any] = list(matching.params)
        for i, key in enumerate(keys):
            if key.field is not None:
                columns.append(key.column)
                joins.append(
                    f"LEFT JOIN vals AS k{i} ON k{i}.rid = m.rid AND k{i}.field = ? "
                    f"AND k{i}.pos = 0"
                )
                params.append(key.field)
        where = ""
        if request.search_after is not None:
            if len(request.search_after) != len(all_keys):
                raise ValueError("search_after does not match this request's sort")
            after = _after(all_keys, request.search_after)
            where = f" WHERE {after.text}"
            params.extend(after.params)
        order = []
        for key in all_keys:
            direction = " DESC" if key.descending else ""
            if key.column in ("m.id", "m.library"):
                order.append(f"{key.column}{direction}")
            else:
                order.append(f"({key.column} IS NULL), {key.column}{direction}")
        sql = (
            f"SELECT {', '.join(columns)} FROM ({matching.text}) AS m {' '.join(joins)}"
            f"{where} ORDER BY {', '.join(order)} LIMIT ? OFFSET ?"
        )
        params.extend([request.size, max(request.offset, 0)])
        rows = conn.execute(sql, params).fetchall()
        if not rows:
            return []
        rids = [row[0] for row in rows]
        sources: dict[int, str] = {}
        for start in range(0, len(rids), _CHUNK):
            chunk = rids[start : start + _CHUNK]
            sources.update(
                conn.execute(
                    f"SELECT rid, source FROM bodies WHERE rid IN ({', '.join('?' * len(chunk))})",
                    chunk,
                )
            )
        hits = []
        for row in rows:
            rid, record_id, library, score = row[:4]
            sort_values: list[Any] = []
            extra = iter(row[4:])
            for key in keys:
                sort_values.append(score if key.field is None else next(extra))
            sort_values.append(record_id)
            if multi:
                sort_values.append(library)
            hits.append(
                Hit(
                    library=library,
                    id=record_id,
                    score=None if score is None else float(score),
                    source=json.loads(sources[rid]),
                    sort_values=tuple(sort_values),
                )
            )
        return hits

    @staticmethod
    def _counting_plan(
        conn: sqlite3.Connection,
        libraries: Sequence[_Library],
        request: SearchRequest,
        total: int,
        reuse: bool,
    ) -> _Counting:
        """How to count values over the matching documents (facets and stats)."""
        libs = [lib.lib for lib in libraries]
        positive, negative = _match_expressions(request.text)
        if positive is None and negative is None and not request.filters:
            return _Counting("whole", libs, None, request.scope)
        matching = _matching(libraries, request, scored=False)
        if matching is None or total == 0:
            return _Counting("none", libs, None, request.scope)
        live = conn.execute(
            f"SELECT COUNT(*) FROM docs WHERE lib IN ({', '.join('?' * len(libs))}) "
            "AND deleted = 0",
            libs,
        ).fetchone()[0]
        if total * _DRIVE_FROM_MATCHES <= live:
            return _Counting("drive", libs, matching, request.scope)
        if reuse:  # several facets: collect the matching rids once
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS search_matches (rid INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM temp.search_matches")
            conn.execute(
                f"INSERT INTO temp.search_matches (rid) SELECT rid FROM ({matching.text})",
                matching.params,
            )
            return _Counting("probe", libs, _Sql("SELECT rid FROM temp.search_matches", []), None)
        return _Counting(
            "probe", libs, _Sql(f"SELECT rid FROM ({matching.text})", matching.params), None
        )

    @staticmethod
    def _grouped(
        conn: sqlite3.Connection, plan: _Counting, fields: Sequence[FilterField], limit: int
    ) -> list[tuple[Any, ...]]:
        """(value, …, count) per distinct value tuple of `fields` over the matching documents,
        count desc then values asc; a document counts once per value (tuple) it has."""
        if plan.kind == "none" or not plan.libs:
            return []
        joins, join_params = [], []
        for i, field in enumerate(fields[1:], start=1):
            joins.append(f"JOIN vals AS v{i} ON v{i}.rid = v0.rid AND v{i}.field = ?")
            join_params.append(field.name)
        values = ", ".join(f"v{i}.value" for i in range(len(fields)))
        positions = ", ".join(str(i + 1) for i in range(len(fields)))
        grouping = f" GROUP BY {positions} ORDER BY n DESC, {positions} LIMIT ?"
        in_libs = ", ".join("?" * len(plan.libs))
        if plan.kind == "drive":
            # Few matches: look up each one's values (a primary-key search per match).
            assert plan.rids is not None
            sql = (
                f"SELECT {values}, COUNT(*) AS n FROM ({plan.rids.text}) AS m "
                f"CROSS JOIN vals AS v0 ON v0.rid = m.rid AND v0.field = ? {' '.join(joins)}"
                f"{grouping}"
            )
            params = [*plan.rids.params, fields[0].name, *join_params, limit]
            return conn.execute(sql, params).fetchall()
        # Whole libraries, or many matches: scan the field's values in index order. `vals`
        # repeats visibility and owner, so whole libraries need no other table; otherwise each
        # row is tested for membership (`+` keeps SQLite from turning that into lookups).
        where = [f"v0.lib IN ({in_libs})", "v0.field = ?"]
        params = [*join_params, *plan.libs, fields[0].name]
        if plan.rids is not None:
            where.append(f"+v0.rid IN ({plan.rids.text})")
            params.extend(plan.rids.params)
        elif plan.scope is not None:
            visibility = _visibility(plan.scope, "v0")
            if visibility is not None:
                where.append(visibility.text)
                params.extend(visibility.params)
        sql = (
            f"SELECT {values}, COUNT(*) AS n FROM vals AS v0 {' '.join(joins)} "
            f"WHERE {' AND '.join(where)}{grouping}"
        )
        return conn.execute(sql, [*params, limit]).fetchall()

    # -- suggest and stats --

    async def suggest(
        self, prefix: str, libraries: Sequence[str], scope: VisibilityScope, limit: int
    ) -> list[Suggestion]:
        key = normalise_prefix(prefix)
        if not key or not libraries or limit <= 0:
            return []

        def work(conn: sqlite3.Connection) -> list[Suggestion]:
            found = self._libraries(conn, libraries)
            if not found:
                return []
            names = {lib.lib: lib.name for lib in found}
            where = [f"d.lib IN ({', '.join('?' * len(names))})", "d.deleted = 0"]
            params: list[Any] = [key, key, key + "\U0010ffff", *names]
            visibility = _visibility(scope)
            if visibility is not None:
                where.append(visibility.text)
                params.extend(visibility.params)
            # Per document its best key: exact match first, then the shortest key.
            rows = conn.execute(
                "SELECT d.lib, d.id, d.label, d.suggest_hint, "
                "MIN((s.key <> ?) * 1000000 + length(s.key)) AS rank "
                "FROM suggest AS s CROSS JOIN docs AS d ON d.rid = s.rid "
                f"WHERE s.key >= ? AND s.key < ? AND {' AND '.join(where)} "
                "GROUP BY d.rid ORDER BY rank, d.label, d.id LIMIT ?",
                [*params, limit],
            )
            suggestions = []
            for lib, record_id, label, hint, rank in rows:
                exact, length = divmod(int(rank), 1000000)
                score = (0.0 if exact else 1.0) + 1.0 / (1 + length)
                suggestions.append(Suggestion(names[lib], record_id, label or "", hint, score))
            return suggestions

        return await self._read(work)

    async def stats(
        self, request: SearchRequest, group_by: Sequence[FilterField]
    ) -> list[StatsBucket]:
        def work(conn: sqlite3.Connection) -> list[StatsBucket]:
            libraries = self._libraries(conn, request.libraries)
            matching = _matching(libraries, request, scored=False)
            if matching is None:
                return []
            n = conn.execute(f"SELECT COUNT(*) FROM ({matching.text})", matching.params)
            total = int(n.fetchone()[0])
            if not group_by:
                return [StatsBucket((), total)]
            plan = self._counting_plan(conn, libraries, request, total, reuse=False)
            rows = self._grouped(conn, plan, group_by, -1)
            return [
                StatsBucket(
                    tuple(_loaded(v, f.kind) for v, f in zip(row[:-1], group_by, strict=True)),
                    int(row[-1]),
                )
                for row in rows
            ]

        return await self._read(work)

    # -- lifecycle --

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT count(*) FROM libraries").fetchone())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def shutdown() -> None:
            self._writer.shutdown(wait=True)
            self._readers.shutdown(wait=True)
            with self._connections_lock:
                for conn in self._connections:
                    conn.close()
                self._connections.clear()

        await asyncio.to_thread(shutdown)
