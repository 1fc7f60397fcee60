"""The apprise channel against a real local HTTP server (apprise's json:// notifier)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loneguard.server.escalation.notify.apprise_channel import AppriseChannel
from loneguard.server.escalation.notify.notification import Notification, Recipient

pytest.importorskip("apprise")


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[dict[str, object]] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_port_url() -> str:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()
    return f"json://127.0.0.1:{port}/"


def note(*urls: str, key: str = "a5/s0/r0/dsl/apprise") -> Notification:
    return Notification(key, 5, "apprise", Recipient("Dee", "dsl", apprise_urls=urls), "Panic")


def test_body_arrives_at_the_http_endpoint(receiver: Receiver) -> None:
    result = asyncio.run(AppriseChannel().send(note(receiver.url)))
    assert result.ok, result.detail
    assert [(b["title"], b["message"]) for b in receiver.bodies] == [("loneguard alarm 5", "Panic")]
    assert "127.0.0.1" not in result.detail


def test_a_failed_target_is_retryable_and_the_retry_skips_delivered_ones(
    receiver: Receiver,
) -> None:
    channel = AppriseChannel()
    dead = _closed_port_url()
    n = note(receiver.url, dead)
    first = asyncio.run(channel.send(n))
    assert (first.ok, first.retryable) == (False, True)
    assert first.detail == "apprise: 1 of 2 delivered, 1 failed"
    assert dead.split("//")[1] not in first.detail
    second = asyncio.run(channel.send(n))  # the retry: the live target is not told twice
    assert len(receiver.bodies) == 1
    assert second.detail == "apprise: 1 of 2 delivered, 1 failed"


def test_an_error_status_is_retryable(receiver: Receiver) -> None:
    receiver.status = 503
    result = asyncio.run(AppriseChannel().send(note(receiver.url)))
    assert (result.ok, result.retryable) == (False, True)


def test_no_or_invalid_urls_are_final_failures() -> None:
    none = asyncio.run(AppriseChannel().send(note()))
    assert (none.ok, none.detail, none.retryable) == (False, "no apprise URL for dsl", False)
    invalid = asyncio.run(AppriseChannel().send(note("nosuchscheme://secret@host")))
    assert (invalid.ok, invalid.retryable) == (False, False)
    assert "secret" not in invalid.detail and "position 1" in invalid.detail


def test_without_apprise_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise → ImportError
    result = asyncio.run(AppriseChannel().send(note("json://127.0.0.1:9/")))
    assert (result.ok, result.detail, result.retryable) == (False, "apprise not installed", False)
