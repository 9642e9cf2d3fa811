"""Search use cases behind the public API: lists, cross-library search, autocomplete,
statistics and affiliation matching. Visibility is applied to every one of them."""

from __future__ import annotations

import builtins  # `list` in annotations is the builtin, not SearchService.list
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from services.gateway.search.analysis import Analyzer
from services.gateway.search.analysis import normalize
from services.gateway.search.analysis import synonyms
from services.gateway.search.backends.base import SearchBackend
from services.gateway.search.backends.elasticsearch import SearchBackendError
from services.gateway.search.highlight import highlight
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.gateway.search.model import FacetBucket
from services.gateway.search.model import FilterClause
from services.gateway.search.model import FilterField
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SearchResult
from services.gateway.search.model import SortKey
from services.gateway.search.model import Terms
from services.gateway.search.model import TextQuery
from services.gateway.search.query import Paging
from services.gateway.search.query import next_cursor
from services.gateway.search.query import parse_facets
from services.gateway.search.query import parse_filter
from services.gateway.search.query import parse_paging
from services.gateway.search.query import parse_q
from services.gateway.search.query import parse_select
from services.gateway.search.query import parse_sort
from services.gateway.search.query import query_fingerprint
from services.kernel.errors import BadRequest
from services.kernel.errors import FieldError
from services.kernel.internal_auth import Actor
from services.kernel.library import library_named
from services.kernel.visibility import VisibilityScope
from services.kernel.visibility import scope_for
from services.vocabularies.disciplines import disciplines

MAX_SUGGESTIONS = 10
MAX_GROUP_BY = 2


@dataclass(frozen=True, slots=True)
class ListParams:
    q: str | None = None
    filter: str | None = None
    sort: str | None = None
    facets: str | None = None
    page: int | None = None
    page_size: int = 20
    cursor: str | None = None
    select: str | None = None


@dataclass(frozen=True, slots=True)
class ListPlan:
    """A list request parsed: what the backend is asked, and how the answer is paged."""

    request: SearchRequest
    paging: Paging
    fingerprint: str
    select: frozenset[str] | None


class SearchService:
    def __init__(self, backend: SearchBackend, analyzer: Analyzer) -> None:
        self.backend = backend
        self.analyzer = analyzer

    def _text(self, q: str | None) -> TextQuery | None:
        return text_query(self.analyzer, q)

    def plan_list(
        self,
        schema: LibrarySchema,
        params: ListParams,
        actor: Actor,
        *,
        base_filters: Sequence[FilterClause] = (),
    ) -> ListPlan:
        """The backend request a list asks for (parsed and validated), and how to page it."""
        text = self._text(params.q)
        filters = (*base_filters, *parse_filter(params.filter, schema))
        sort = parse_sort(params.sort, schema, has_text=text is not None)
        facets = parse_facets(params.facets, schema)
        select = parse_select(params.select)
        fingerprint = query_fingerprint(schema.name, params.q, params.filter, params.sort)
        paging = parse_paging(params.page, params.page_size, params.cursor, fingerprint)
        scope = scope_for(actor)
        request = _page_request((schema.name,), scope, paging, text, filters, sort, facets)
        return ListPlan(request, paging, fingerprint, select)

    async def list(
        self,
        schema: LibrarySchema,
        params: ListParams,
        actor: Actor,
        *,
        base_filters: Sequence[FilterClause] = (),
    ) -> dict[str, Any]:
        """One library's records matching q/filter, sorted, paged, faceted; the API envelope."""
        started = time.perf_counter()
        plan = self.plan_list(schema, params, actor, base_filters=base_filters)
        request, paging, text = plan.request, plan.paging, plan.request.text
        result = await self._search(request)
        highlight_fields = [t.highlight for t in schema.text_fields if t.highlight]
        tokens = text.all_tokens if text else []
        results = [
            self._shape(hit.source, plan.select, highlight_fields, tokens) for hit in result.hits
        ]
        return {
            "meta": {
                "count": result.total,
                "page": paging.page,
                "page_size": paging.size,
                "next_cursor": self._next(paging, result.hits, plan.fingerprint),
                "took_ms": round((time.perf_counter() - started) * 1000),
                "matching": _matching(text),
            },
            "results": results,
            "facets": {
                field.name: await self._facet(field, result.facets.get(field.name, []))
                for field in request.facets
            },
        }

    async def _search(self, request: SearchRequest) -> SearchResult:
        try:
            return await self.backend.search(request)
        except (ValueError, SearchBackendError) as exc:
            # Everything else in the request was validated; a cursor is only base64 JSON, and
            # one forged (or from another version) has positions that do not fit the sort.
            if request.search_after is None:
                raise
            raise BadRequest(
                "cursor: does not fit this query; start again with cursor=* and follow "
                "meta.next_cursor",
                errors=[FieldError(("query", "cursor"), "invalid cursor")],
            ) from exc

    @staticmethod
    def _next(paging: Paging, hits: Sequence[Any], fingerprint: str) -> str | None:
        if not paging.cursor_mode or len(hits) < paging.size:
            return None
        return next_cursor(hits[-1].sort_values, fingerprint)

    @staticmethod
    def _shape(
        source: Mapping[str, Any],
        select: frozenset[str] | None,
        highlight_fields: Sequence[str],
        tokens: Sequence[str],
    ) -> dict[str, Any]:
        record = {k: v for k, v in source.items() if select is None or k in select}
        marked = highlight(source, highlight_fields, tokens)
        if marked:
            record["highlight"] = marked
        return record

    async def _facet(
        self, field: FilterField, buckets: Sequence[FacetBucket]
    ) -> builtins.list[dict[str, Any]]:
        labels = await self.labels(field, [b.value for b in buckets])
        return [
            {"value": b.value, "label": labels.get(str(b.value), str(b.value)), "count": b.count}
            for b in buckets
        ]

    async def labels(self, field: FilterField, values: Sequence[Any]) -> dict[str, str]:
        """Chinese labels of facet values: declared labels, discipline names, record names."""
        if field.labels:
            return dict(field.labels)
        if field.name == "discipline":
            vocabulary = disciplines()
            return {str(v): vocabulary.label(str(v)) for v in values}
        if field.ref and library_named(field.ref).all_public:
            # Facets whose values are record IDs get the records' names, from libraries whose
            # records are all public only: a name never reveals a record the caller may not see.
            library = field.ref
            found = await self.backend.sources(library, [str(v) for v in values])
            return {k: str(s.get("name") or k) for k, s in found.items()}
        if field.kind.value == "boolean":
            return {"True": "是", "False": "否", "true": "是", "false": "否"}
        return {}

    async def search_all(
        self, libraries: Sequence[str], params: ListParams, actor: Actor
    ) -> dict[str, Any]:
        """One query across libraries, one ranking, and a `library` facet."""
        started = time.perf_counter()
        text = self._text(params.q)
        schemas = [LIBRARY_SCHEMAS[name] for name in libraries]
        common = _common_schema(schemas)
        filters = parse_filter(params.filter, common)
        # The grammar of the lists, over the fields every chosen library has (`library` is
        # always there): documented facets, a sort and select are honoured, not ignored.
        facet_names = [n for n in (params.facets or "").split(",") if n.strip() != "library"]
        facets = parse_facets(",".join(facet_names), common)
        select = parse_select(params.select)
        if params.sort and params.sort.strip():
            sort = parse_sort(params.sort, common, has_text=text is not None)
        else:
            sort = (SortKey("relevance", True),) if text else (SortKey("updated_at", True),)
        fingerprint = query_fingerprint(",".join(libraries), params.q, params.filter, params.sort)
        paging = parse_paging(params.page, params.page_size, params.cursor, fingerprint)
        scope = scope_for(actor)
        result = await self._search(
            _page_request(tuple(libraries), scope, paging, text, filters, sort, facets)
        )
        counts = []
        for schema in schemas:
            only = await self.backend.search(
                SearchRequest((schema.name,), scope, text=text, filters=filters, size=0)
            )
            counts.append({"value": schema.name, "label": schema.label, "count": only.total})
        tokens = text.all_tokens if text else []
        results = []
        for hit in result.hits:
            schema = LIBRARY_SCHEMAS[hit.library]
            fields = [t.highlight for t in schema.text_fields if t.highlight]
            results.append(
                {"library": hit.library, **self._shape(hit.source, select, fields, tokens)}
            )
        return {
            "meta": {
                "count": result.total,
                "page": paging.page,
                "page_size": paging.size,
                "next_cursor": self._next(paging, result.hits, fingerprint),
                "took_ms": round((time.perf_counter() - started) * 1000),
                "matching": _matching(text),
            },
            "results": results,
            "facets": {
                "library": sorted(counts, key=lambda c: -c["count"]),
                **{f.name: await self._facet(f, result.facets.get(f.name, [])) for f in facets},
            },
        }

    async def autocomplete(
        self, q: str, libraries: Sequence[str], actor: Actor
    ) -> builtins.list[dict[str, Any]]:
        prefix = normalize(q).replace(" ", "")
        if not prefix:
            return []
        found = await self.backend.suggest(prefix, libraries, scope_for(actor), MAX_SUGGESTIONS)
        return [
            {"id": s.id, "label": s.label, "library": s.library, "hint": s.hint}
            for s in found[:MAX_SUGGESTIONS]
        ]

    async def stats(
        self, schema: LibrarySchema, group_by: str, params: ListParams, actor: Actor
    ) -> dict[str, Any]:
        names = [n.strip() for n in group_by.split(",") if n.strip()]
        if not 1 <= len(names) <= MAX_GROUP_BY:
            raise BadRequest(
                "group_by: give one or two facetable fields, e.g. group_by=type,year",
                errors=[FieldError(("query", "group_by"), "one or two fields")],
            )
        fields = list(parse_facets(",".join(names), schema, "group_by"))
        request = SearchRequest(
            libraries=(schema.name,),
            scope=scope_for(actor),
            text=self._text(params.q),
            filters=parse_filter(params.filter, schema),
        )
        buckets = await self.backend.stats(request, fields)
        # The matching records, counted once each: a record may have several values of a
        # field (institutions) or none (series), so the buckets do not add up to it.
        total = (await self.backend.search(replace(request, size=0))).total
        labels = [await self.labels(f, [b.key[i] for b in buckets]) for i, f in enumerate(fields)]
        return {
            "library": schema.name,
            "group_by": [f.name for f in fields],
            "total": total,
            "results": [
                {
                    "key": {f.name: b.key[i] for i, f in enumerate(fields)},
                    "labels": {
                        f.name: labels[i].get(str(b.key[i]), str(b.key[i]))
                        for i, f in enumerate(fields)
                    },
                    "count": b.count,
                }
                for b in buckets
            ],
        }

    async def match_affiliation(
        self, affiliation: str, actor: Actor
    ) -> builtins.list[dict[str, Any]]:
        """Free-text affiliation → ranked institutions; `chosen` only when one is clearly right.

        A candidate is chosen when its full name (or an alias) appears in the affiliation and
        no other candidate's name of the same or greater length does: "清华大学计算机系" →
        清华大学; "华北电力大学(北京)" prefers that campus over 华北电力大学; "师范大学" or
        "北京" choose nothing.
        """
        folded = normalize(affiliation).replace(" ", "")
        # Every bigram too, not only the query's words: 京大 is what tells 北京大学 from the
        # other universities of 北京 in "Department of Physics, 北京大学, Beijing".
        tokens = list(
            dict.fromkeys(
                [
                    *self.analyzer.query_tokens(affiliation),
                    *self.analyzer.phrase_tokens(affiliation),
                ]
            )
        )
        if not folded or not tokens:
            return []
        text = TextQuery(groups=(tuple(Terms((t,)) for t in tokens[:64]),))
        result = await self.backend.search(
            SearchRequest(("institutions",), scope_for(actor), text=text, size=10)
        )
        candidates = []
        top = max((h.score or 0.0 for h in result.hits), default=0.0) or 1.0
        for hit in result.hits:
            names = [hit.source.get("name"), *hit.source.get("aliases", [])]
            contained = max(
                (
                    len(n)
                    for n in (normalize(x).replace(" ", "") for x in names if x)
                    if n in folded
                ),
                default=0,
            )
            score = 0.5 * (hit.score or 0.0) / top + 0.5 * contained / max(len(folded), 1)
            candidates.append((contained, score, hit))
        longest = max((c[0] for c in candidates), default=0)
        winners = [c for c in candidates if c[0] == longest and longest > 0]
        ranked = sorted(candidates, key=lambda c: (-c[0], -c[1]))
        return [
            {
                "id": hit.id,
                "name": hit.source.get("name"),
                "score": round(score, 4),
                "chosen": len(winners) == 1 and winners[0][2] is hit,
            }
            for _contained, score, hit in ranked
        ]


def _page_request(
    libraries: tuple[str, ...],
    scope: VisibilityScope,
    paging: Paging,
    text: TextQuery | None,
    filters: Sequence[FilterClause],
    sort: Sequence[SortKey],
    facets: Sequence[FilterField],
) -> SearchRequest:
    """One page of a list or a search, as the backends are asked it."""
    return SearchRequest(
        libraries=libraries,
        scope=scope,
        text=text,
        filters=tuple(filters),
        sort=tuple(sort),
        facets=tuple(facets),
        offset=paging.offset,
        size=paging.size,
        search_after=paging.search_after,
    )


def _common_schema(schemas: Sequence[LibrarySchema]) -> LibrarySchema:
    """Fields every library in a cross-library search shares (owner_org, dates)."""
    names = set.intersection(*(set(s.fields) for s in schemas)) if schemas else set()
    first = schemas[0]
    return LibrarySchema(
        name="search",
        label="全部",
        fields={n: first.fields[n] for n in sorted(names)},
        text_fields=(),
    )


def _matching(text: TextQuery | None) -> str | None:
    """`meta.matching`: how the words of `q` matched (see ListMeta)."""
    if text is None:
        return None
    return "most" if text.partial else "all"


def text_query(analyzer: Analyzer, q: str | None) -> TextQuery | None:
    """`q` as every search route (and the relevance bench) parses it with `analyzer`."""
    return parse_q(
        q,
        analyzer.query_tokens,
        analyzer.phrase_tokens,
        analyzer.options.stop_words,
        analyzer.normalize,
        synonyms,
    )
