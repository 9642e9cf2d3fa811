"""`zhihui up` as real processes: migrates, starts every service, serves, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.kernel.settings import DEFAULT_INTERNAL_TOKEN
from services.registry import COMPONENTS
from tests.e2e.processes import clean_env
from tests.e2e.processes import free_port

START_TIMEOUT = 90.0


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            lines.append(line.rstrip())
            if marker in line:
                return lines
        elif process.poll() is not None:
            break
        else:
            time.sleep(0.1)
    raise AssertionError(f"no {marker!r} within {timeout}s; output so far: {lines}")


def test_up_starts_all_services_serves_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {spec.name: free_port() for spec in COMPONENTS}
    env = clean_env(tmp_path, **{f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in ports.items()})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "up",
            "--data-dir",
            str(tmp_path),
            "--sample-data",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _read_until(process, "ready;", START_TIMEOUT)
        for name, port in ports.items():
            assert any(f"http://127.0.0.1:{port}" in line for line in output), output
            assert (tmp_path / f"{name}.sqlite").exists()
        base = f"http://127.0.0.1:{ports['institutions']}"
        headers = {"X-Internal-Token": DEFAULT_INTERNAL_TOKEN, "X-Actor-Role": "admin"}
        created = httpx.post(
            f"{base}/institutions", json={"name": "中国科学技术协会"}, headers=headers, timeout=10
        )
        assert created.status_code == 201, created.text
        read = httpx.get(f"{base}/institutions/{created.json()['id']}", headers=headers, timeout=10)
        assert read.json()["name"] == "中国科学技术协会"
        log = (tmp_path / "logs" / "institutions.log").read_text()
        assert created.headers["x-request-id"] in log  # JSON access log carries the request id

        # Peers find each other on these ports too: a special database's `ref:institutions`
        # is checked with this platform's institutions, which asks it back before a delete.
        datasets = f"http://127.0.0.1:{ports['datasets']}"
        definition = {
            "slug": "member-societies",
            "name": "学会名录",
            "visibility": "public",
            "title_field": "name",
            "fields": [
                {"name": "name", "label": "名称", "type": "text", "required": True},
                {"name": "host", "label": "挂靠单位", "type": "ref:institutions"},
            ],
        }
        defined = httpx.post(f"{datasets}/datasets", json=definition, headers=headers, timeout=10)
        assert defined.status_code == 201, defined.text
        record = httpx.post(
            f"{datasets}/datasets/member-societies/records",
            json={"values": {"name": "中国计算机学会", "host": created.json()["id"]}},
            headers=headers,
            timeout=10,
        )
        assert record.status_code == 201, record.text
        refused = httpx.delete(
            f"{base}/institutions/{created.json()['id']}",
            headers={**headers, "If-Match": '"v1"'},
            timeout=10,
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["errors"][0]["loc"] == ["references", "datasets"]

        # The public door: the sample data is there, listed through the gateway.
        assert any(
            "sample data: 48 institutions, 24 experts, 40 outcomes, 8 events" in ln for ln in output
        )
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        # The in-process indexer makes writes searchable within moments (poll briefly).
        names: set[str] = set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            listed = httpx.get(
                f"{gateway}/api/v1/institutions", params={"page_size": 100}, timeout=10
            )
            assert listed.status_code == 200
            names = {r["name"] for r in listed.json()["results"]}
            if {"北京大学", "清华大学", "中国科学技术协会"} <= names:
                break
            time.sleep(0.2)
        assert {"北京大学", "清华大学", "中国科学技术协会"} <= names
        found = httpx.get(f"{gateway}/api/v1/institutions", params={"q": "清华"}, timeout=10)
        assert found.json()["results"][0]["name"] == "清华大学"
        suggested = httpx.get(f"{gateway}/api/v1/autocomplete", params={"q": "qh"}, timeout=10)
        assert "清华大学" in [s["label"] for s in suggested.json()["results"]]
        assert listed.headers["x-ratelimit-limit"]
        outcomes = httpx.get(f"{gateway}/api/v1/outcomes", timeout=10).json()["results"]
        assert outcomes and all(o["visibility"] == "public" for o in outcomes)
        docs = httpx.get(f"{gateway}/openapi.json", timeout=10).json()
        assert "/api/v1/experts/{ref}" in docs["paths"]
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=30)
    assert process.returncode == 0, remaining
    assert "stopped" in remaining
    for port in ports.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served"
