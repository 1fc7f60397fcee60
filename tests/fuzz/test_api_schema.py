"""The JSON API fuzzed from its own OpenAPI schema (schemathesis): no input gives a 5xx.

Every operation is called with generated parameters and bodies, both those the schema allows
and those it forbids, with an admin token (so the
requests reach the handlers, not only the auth check) and, for a share of them, with none. A
few workers, devices and an open alarm exist first, so paths with ids sometimes hit real rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.api import create_app
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.store import Role, Worker
from loneguard.server.store.sqlite import SqliteStore
from tests.fuzz.conftest import FUZZ, count

TOKEN: dict[str, str] = {}
EXAMPLES = 50


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    clock = FakeClock()
    store = SqliteStore(Path(tmp_path_factory.mktemp("api")) / "hub.db", now_ms=clock.wall_ms)
    value = new_token()
    store.create_token("fuzz", Role.ADMIN, hash_token(value), 1).result()
    TOKEN["Authorization"] = f"Bearer {value}"
    for i in range(3):
        store.save_worker(Worker(f"w{i}", f"Worker {i}", mobile="+447700900001")).result()
        store.assign_device(f"d{i}", f"w{i}").result()
    panic = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=1)
    store.record_event("d0", panic, clock.wall_ms(), effects_of(panic.kind)).result()
    app = create_app(store, clock=clock, mqtt_connected=lambda: True)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema.exclude(path="/api/stream")  # a stream never ends: not a request/response
    store.close()


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_no_input_gives_a_server_error(api_schema: Any) -> None:
    tried: dict[str, int] = {}
    for operation in operations(api_schema):
        label = f"{operation.method.upper()} {operation.path}"

        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),  # what the schema allows
            operation.as_strategy(GenerationMode.NEGATIVE),  # and what it forbids
        )

        @settings(FUZZ, max_examples=EXAMPLES)
        @given(case=cases, authorised=st.integers(0, 4))
        def check(case: Any, authorised: int) -> None:
            count("api")
            tried[label] = tried.get(label, 0) + 1  # noqa: B023 (called in this iteration)
            headers = dict(TOKEN) if authorised else {}
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{label}: {response.text[:300]}"  # noqa: B023

        check()
    print(f"API fuzz: {sum(tried.values())} requests over {len(tried)} operations")
    assert len(tried) >= 15  # every operation of the schema, not a few
