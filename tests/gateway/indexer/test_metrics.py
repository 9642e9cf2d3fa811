"""/metrics and /readyz: the gateway's (with an in-process indexer) and `zhihui indexer`'s."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from services.cli.indexer import create_indexer_app
from services.cli.main import build_parser
from services.gateway.config import GatewaySettings
from services.gateway.indexer.feeds import IndexerStore
from services.gateway.indexer.runner import Indexer
from services.gateway.main import create_app as create_gateway
from services.gateway.search.components import SearchComponents
from services.kernel.db import Database
from tests.conftest import asgi_client
from tests.gateway.conftest import Platform
from tests.gateway.conftest import service_clients
from tests.gateway.indexer.conftest import FEEDS
from tests.gateway.indexer.conftest import Feeds
from tests.gateway.indexer.conftest import RecordingSink
from tests.gateway.indexer.conftest import fast_settings
from tests.gateway.indexer.conftest import feed_changes
from tests.gateway.indexer.conftest import wait_caught_up
from tests.gateway.indexer.conftest import wait_until
from tests.gateway.indexer.writes import write_stream

SAMPLE = re.compile(r'^(\w+)(?:\{(\w+)="([^"]*)"\})? (\S+)$')


def parse_metrics(text: str) -> dict[tuple[str, str | None], float]:
    """Samples of a Prometheus text page, by (name, value of its one label)."""
    samples: dict[tuple[str, str | None], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, _label, value, number = match.groups()
        samples[(name, value)] = float(number)
    return samples


async def test_gateway_metrics_expose_lag_per_feed(
    platform: Platform,
    platform_settings,  # type: ignore[no-untyped-def]
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    make_feeds: Callable[[], Feeds],
    gateway_db: Database,
    search: SearchComponents,
) -> None:
    sink = RecordingSink()
    app = create_gateway(
        GatewaySettings(
            run_indexer=True, anonymous_rate_limit=10_000, failed_auth_rate_limit=10_000
        ),
        platform_settings,
        gateway_db,
        service_clients(platform, platform_settings),
        indexer_sink=sink,
        search=search,
    )
    indexer: Indexer = app.state.indexer
    feeds = make_feeds()
    async with app.router.lifespan_context(app), asgi_client(app, "http://gateway") as http:
        await write_stream(gateway, keys["admin"], "度", steps=10)
        heads = await wait_caught_up(indexer, feeds.clients)
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/api/v1/no-such-library")).status_code == 404

        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "# TYPE zhihui_indexer_lag gauge" in response.text
        metrics = parse_metrics(response.text)
        for feed in FEEDS:
            assert metrics[("zhihui_indexer_lag", feed)] == 0
            assert metrics[("zhihui_indexer_cursor", feed)] == heads[feed]
            assert metrics[("zhihui_indexer_head", feed)] == heads[feed]
            assert metrics[("zhihui_indexer_leased", feed)] == 1
            assert 0 <= metrics[("zhihui_indexer_last_success_seconds", feed)] < 5
        assert metrics[("zhihui_indexer_changes_applied_total", "institutions")] > 0
        assert metrics[("zhihui_http_responses_total", "2xx")] >= 1
        assert metrics[("zhihui_http_responses_total", "4xx")] >= 1

        # The index goes down: lag shows how far behind it is, per feed.
        sink.failing = True
        await write_stream(gateway, keys["admin"], "量", steps=10)
        # Lag shows as soon as a cycle reads the new head, before its apply has failed: wait
        # for the failure too, or the `failing` gauge is read in between (a flake, 1 in 8).
        await wait_until(
            lambda: all(
                (indexer.statuses()[feed].lag or 0) > 0 and indexer.statuses()[feed].failures > 0
                for feed in ("institutions", "experts")
            ),
            "lag and the failure to show",
        )
        metrics = parse_metrics((await http.get("/metrics")).text)
        for feed in ("institutions", "experts"):
            status = indexer.statuses()[feed]
            assert metrics[("zhihui_indexer_lag", feed)] > 0
            assert metrics[("zhihui_indexer_cursor", feed)] == heads[feed]
            assert metrics[("zhihui_indexer_failing", feed)] == 1
            assert metrics[("zhihui_indexer_failures_total", feed)] >= 1
            assert status.head is not None and status.head > heads[feed]
        ready = (await http.get("/readyz")).json()
        assert ready["status"] == "ready"  # a lagging index does not take the gateway out
        assert ready["indexer"]["institutions"]["lag"] > 0
        assert "unavailable" in ready["indexer"]["institutions"]["last_error"]

        sink.failing = False
        await wait_caught_up(indexer, feeds.clients)
        metrics = parse_metrics((await http.get("/metrics")).text)
        assert all(metrics[("zhihui_indexer_lag", feed)] == 0 for feed in FEEDS)
        assert all(metrics[("zhihui_indexer_failing", feed)] == 0 for feed in FEEDS)
    assert not indexer.running
    assert await IndexerStore(gateway_db).leases() == {}


async def test_gateway_without_an_indexer_reports_only_requests(
    platform: Platform,
    platform_settings,  # type: ignore[no-untyped-def]
    search: SearchComponents,
) -> None:
    app = create_gateway(
        GatewaySettings(
            anonymous_rate_limit=10_000, failed_auth_rate_limit=10_000, run_indexer=False
        ),
        platform_settings,
        platform.gateway_db,
        service_clients(platform, platform_settings),
        search=search,
    )
    assert app.state.indexer is None
    async with asgi_client(app, "http://gateway") as http:
        assert (await http.get("/healthz")).status_code == 200
        text = (await http.get("/metrics")).text
        assert "zhihui_indexer" not in text
        assert parse_metrics(text)[("zhihui_http_responses_total", "2xx")] >= 1
        assert "indexer" not in (await http.get("/readyz")).json()


async def test_standalone_indexer_serves_readiness_lag_and_metrics(
    make_feeds: Callable[[], Feeds], gateway_db: Database
) -> None:
    feeds = make_feeds()
    feeds.transports["datasets"].down = True
    sink = RecordingSink()
    indexer = Indexer(gateway_db, feeds.clients, sink, fast_settings())
    app = create_indexer_app(indexer)
    async with app.router.lifespan_context(app), asgi_client(app, "http://indexer") as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        await wait_until(
            lambda: (
                indexer.statuses()["datasets"].failures > 0
                and indexer.statuses()["institutions"].polled
            ),
            "first polls",
        )
        waiting = await http.get("/readyz")
        assert waiting.status_code == 503
        assert waiting.headers["content-type"] == "application/problem+json"
        body = waiting.json()
        assert "datasets" in body["detail"] and body["checks"]["database"] == "ok"
        assert "datasets service is not answering" in body["feeds"]["datasets"]["last_error"]

        feeds.transports["datasets"].down = False
        heads = await wait_caught_up(indexer, feeds.clients)
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert {f: ready.json()["feeds"][f]["lag"] for f in FEEDS} == dict.fromkeys(FEEDS, 0)
        metrics = parse_metrics((await http.get("/metrics")).text)
        assert {f: metrics[("zhihui_indexer_lag", f)] for f in FEEDS} == dict.fromkeys(FEEDS, 0)
        assert {f: metrics[("zhihui_indexer_cursor", f)] for f in FEEDS} == heads
    assert not indexer.running
    # The sink was given every change of every feed.
    for feed in FEEDS:
        given = sum(len(changes) for name, changes in sink.batches if name == feed)
        assert given == len(await feed_changes(feeds.clients[feed]))


def test_the_indexer_command_is_wired_with_its_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["indexer", "--feed", "experts", "--port", "8111"])
    assert args.func.__name__ == "cmd_indexer" and args.feed == ["experts"] and args.port == 8111
    sub = next(a for a in parser._actions if a.dest == "command")
    help_text = sub.choices["indexer"].format_help()  # type: ignore[attr-defined]
    assert "ZHIHUI_INDEXER_PORT" in help_text and "leases" in help_text
