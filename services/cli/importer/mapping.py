"""Which column feeds which field: default mappings for common Chinese headers, `--map`.

A `Profile` describes one library for the importer: its fields (and the few helper fields an
import may fill: an expert's institution as a name, an outcome's institutions as names), the
header names that usually hold them, how to clean each value, and which fields identify a
record when the file has no ID column. `map_columns` applies it to a file's headers.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import orjson
from pydantic import BaseModel

from services.cli.importer import values as v
from services.cli.importer.linking import Linker
from services.datasets.schemas import FieldSpec
from services.datasets.schemas import RecordFields
from services.kernel.visibility import VISIBILITY_LABELS

EXTERNAL_ID = "external_id"
IGNORE = frozenset({"", "-", "_", "ignore"})

Convert = Callable[[Any], Any]


class MappingError(Exception):
    """The columns cannot be mapped (unknown target, required field without a column)."""


@dataclass(frozen=True)
class Rule:
    """One field an import can fill: how to clean its value, and headers that usually hold it."""

    name: str
    convert: Convert
    headers: tuple[str, ...] = ()
    required: bool = False
    label: str = ""  # how the rejects file names the field when no column holds it


@dataclass(frozen=True)
class Profile:
    library: str  # institutions, experts, outcomes, or datasets/<slug>
    path: str  # below /api/v1: institutions, …, datasets/<slug>/records
    model: type[BaseModel]
    rules: tuple[Rule, ...]
    # Fields hashed into the external ID when the file has no ID column (empty: all).
    key_fields: tuple[str, ...] = ()
    # Dataset fields are nested under `values` in the record.
    nested: str | None = None
    # Names of ref:institutions fields (datasets): resolved by name through the match API.
    institution_refs: frozenset[str] = frozenset()
    # Enum fields: their choices as the rejects file lists them (高校、科研院所、…).
    choices: Mapping[str, str] = field(default_factory=dict)
    # Names in a row's fields that `link` will link to institution IDs (prefetched at once).
    names_to_link: Callable[[Mapping[str, Any]], list[str]] | None = None
    # Turns a row's helper fields into the record's (names into IDs, through the linker).
    link: Callable[[dict[str, Any], Linker | None, tuple[str, int]], Awaitable[None]] | None = None

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def field_names(self) -> list[str]:
        return [r.name for r in self.rules]


def header_key(header: str) -> str:
    """Headers compared without width, case, spaces or required-markers: `名称*` = `名称`."""
    text = unicodedata.normalize("NFKC", str(header)).casefold()
    return re.sub(r"[\s*:：]", "", text)


def labels_of(*tables: Mapping[Any, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Label → value for every enum table given (the values map to themselves)."""
    result: dict[str, str] = {}
    for table in tables:
        for value, label in table.items():
            result[label] = str(value)
            result[str(value)] = str(value)
    result.update(extra or {})
    return result


def enum_of(labels: Mapping[str, str]) -> Convert:
    return lambda value: v.enum(value, labels)


VISIBILITY = labels_of(VISIBILITY_LABELS, extra={"公共": "public", "合作": "partner"})

COMMON = (
    Rule(EXTERNAL_ID, v.key, ("编号", "ID", "外部编号", "记录编号", "external_id"), label="编号"),
    Rule("owner_org", v.code, ("owner_org",)),
)


def choices_of(table: Mapping[Any, str]) -> str:
    return "、".join(f"{label}（{value}）" for value, label in table.items())


def dataset_profile(slug: str, fields: Sequence[FieldSpec]) -> Profile:
    """A special database's profile from its definition: its labels are the headers."""
    rules = [*COMMON]
    for spec in fields:
        rules.append(
            Rule(
                spec.name,
                _dataset_convert(spec),
                (spec.label,),
                required=spec.required,
                label=spec.label,
            )
        )
    return Profile(
        library=f"datasets/{slug}",
        path=f"datasets/{slug}/records",
        model=RecordFields,
        rules=tuple(rules),
        nested="values",
        institution_refs=frozenset(s.name for s in fields if s.type == "ref:institutions"),
    )


def _dataset_convert(spec: FieldSpec) -> Convert:
    one: Convert = {
        "text": v.block,
        "keyword": v.text,
        "integer": v.integer,
        "number": v.number,
        "date": v.day,
        "boolean": v.boolean,
    }.get(spec.type, v.code)
    if spec.enum:
        labels = {o.label: o.value for o in spec.enum if o.label}
        labels |= {str(o.value): o.value for o in spec.enum}
        plain = one
        one = lambda x: labels.get(v.nfkc(x), plain(x)) if isinstance(x, str) else plain(x)  # noqa: E731
    if spec.multiple:
        return lambda x: None if x is None else [one(i) for i in v.split_list(x) or []]
    return one


# --- columns ----------------------------------------------------------------------------


def parse_overrides(specs: Iterable[str]) -> dict[str, str]:
    """`--map 单位名称=name,英文=name_en` (repeatable); `列=` or `列=-` ignores a column."""
    overrides: dict[str, str] = {}
    for spec in specs:
        for part in spec.split(","):
            if not part.strip():
                continue
            header, sep, target = part.partition("=")
            if not sep or not header.strip():
                raise MappingError(f"--map {part!r}: write COLUMN=FIELD, e.g. --map 单位名称=name")
            overrides[header.strip()] = target.strip()
    return overrides


@dataclass
class ColumnMap:
    columns: dict[str, str] = field(default_factory=dict)  # header → field
    unmapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def header_of(self, field_name: str) -> str | None:
        return next((h for h, f in self.columns.items() if f == field_name), None)

    @property
    def has_id_column(self) -> bool:
        return EXTERNAL_ID in self.columns.values()


def map_columns(
    headers: Sequence[str], profile: Profile, overrides: Mapping[str, str] | None = None
) -> ColumnMap:
    """Each header's field: `--map` first, then the defaults, then the field's own name."""
    overrides = {header_key(h): t for h, t in (overrides or {}).items()}
    names = set(profile.field_names)
    defaults: dict[str, str] = {}
    for rule in profile.rules:
        for alias in (*rule.headers, rule.name):
            defaults.setdefault(header_key(alias), rule.name)
    result = ColumnMap()
    for header in headers:
        key = header_key(header)
        if key in overrides:
            target = overrides[key]
            if target.lower() in IGNORE:
                result.ignored.append(header)
                continue
            if target not in names:
                raise MappingError(
                    f"--map {header}={target}: {profile.library} has no field {target!r}; "
                    f"fields: {', '.join(sorted(names))}"
                )
        else:
            target = defaults.get(key, "")
        if not target or target in result.columns.values():
            result.unmapped.append(header)
            continue
        result.columns[header] = target
    unknown_overrides = set(overrides) - {header_key(h) for h in headers}
    if unknown_overrides:
        raise MappingError(
            f"--map names columns the file does not have: {', '.join(sorted(unknown_overrides))}"
            f"; its columns are: {', '.join(headers)}"
        )
    missing = [r for r in profile.rules if r.required and r.name not in result.columns.values()]
    if missing:
        wanted = "; ".join(f"{r.name} ({' / '.join(r.headers[:3]) or r.label})" for r in missing)
        raise MappingError(
            f"no column for the required field(s) {wanted}. The file's columns are: "
            f"{', '.join(headers)}. Rename the column or map it, e.g. --map 列名={missing[0].name}"
        )
    return result


# --- rows -------------------------------------------------------------------------------


@dataclass
class Converted:
    """A row's cleaned fields, and for each field the column and raw cell it came from."""

    fields: dict[str, Any]
    cells: dict[str, tuple[str, Any]]


def convert(cells: Mapping[str, Any], columns: ColumnMap, profile: Profile) -> Converted:
    fields: dict[str, Any] = {}
    sources: dict[str, tuple[str, Any]] = {}
    for header, target in columns.columns.items():
        raw = cells.get(header)
        rule = profile.rule(target)
        assert rule is not None
        value = rule.convert(raw)
        sources[target] = (header, raw)
        if not v.is_blank(value):
            fields[target] = value
    return Converted(fields, sources)


def content_key(profile: Profile, fields: Mapping[str, Any]) -> str:
    """A stable external ID from the fields that identify the record (`h-` + 24 hex)."""
    names = profile.key_fields or tuple(
        sorted(f for f in fields if f not in (EXTERNAL_ID, "owner_org"))
    )
    identity = [profile.library, *[[n, _comparable(fields.get(n))] for n in names]]
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"h-{digest[:24]}"


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value)).strip().casefold()
    if isinstance(value, list):
        return [_comparable(x) for x in value]
    return value
