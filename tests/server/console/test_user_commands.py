"""``loneguard-hub user disable|enable|passwd|list`` on a hub's database and its live logins."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.cli import main
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import PASSWORD, log_in, login_status
from tests.server.test_cli import env  # noqa: F401  (the fixture)

NEW_PASSWORD = "a brand new password"


@pytest.fixture
def hub_db(request: pytest.FixtureRequest) -> Path:
    path: Path = request.getfixturevalue("env")  # a SQLite file, in LONEGUARD_DB_URL
    return path


def run(monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["user", *args])


@pytest.fixture
def console(
    hub_db: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """A running console on the database the commands change (as a hub beside the CLI)."""
    for name, role in (("ada", "admin"), ("vic", "viewer")):
        assert run(monkeypatch, "create", "--name", name, "--role", role, stdin=PASSWORD) == 0
    store = SqliteStore(hub_db, now_ms=clock.wall_ms)
    app = create_app(
        store, clock=clock, hooks=ApiHooks(broadcaster=Broadcaster()), console=ConsoleSettings()
    )
    try:
        with TestClient(app, follow_redirects=False) as client:
            yield client
    finally:
        store.close()


def test_list_shows_names_roles_and_disabled_but_never_hashes(
    console: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, "disable", "--name", "vic") == 0
    capsys.readouterr()
    assert run(monkeypatch, "list") == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["ada\tadmin\tenabled", "vic\tviewer\tdisabled"]
    assert "argon2" not in out


def test_disable_ends_live_logins_at_once_and_enable_lets_the_user_back(
    console: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(console, "vic")
    assert console.get("/console").status_code == 200
    assert run(monkeypatch, "disable", "--name", "vic") == 0
    page = console.get("/console")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert login_status(console, "vic", PASSWORD) == 401
    assert run(monkeypatch, "enable", "--name", "vic") == 0
    assert login_status(console, "vic", PASSWORD) == 303
    assert console.get("/console").status_code == 200


def test_passwd_reads_stdin_ends_live_logins_and_the_old_password_stops(
    console: TestClient, monkeypatch: pytest.MonkeyPatch, hub_db: Path, clock: FakeClock
) -> None:
    log_in(console, "ada")
    assert run(monkeypatch, "passwd", "--name", "ada", stdin=NEW_PASSWORD + "\n") == 0
    assert console.get("/console").status_code == 303
    assert login_status(console, "ada", PASSWORD) == 401
    assert login_status(console, "ada", NEW_PASSWORD) == 303
    store = SqliteStore(hub_db, now_ms=clock.wall_ms)
    try:
        actions = [(e.actor, e.action, e.subject) for e in store.audit(limit=20)]
    finally:
        store.close()
    assert ("cli", "user.passwd", "user:ada") in actions
    assert not any(NEW_PASSWORD in str(e) for e in actions)


def test_passwd_prompts_twice_on_a_terminal(
    console: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([NEW_PASSWORD, "not the same password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr("sys.stdin", _Terminal())
    assert main(["user", "passwd", "--name", "ada"]) == 2
    assert "the two entries differ" in capsys.readouterr().err
    assert login_status(console, "ada", PASSWORD) == 303  # unchanged


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("disable", "--name", "nobody"), "", "no console user called 'nobody'"),
        (("enable", "--name", "nobody"), "", "no console user called 'nobody'"),
        (("passwd", "--name", "nobody"), NEW_PASSWORD, "no console user called 'nobody'"),
        (("passwd", "--name", "ada"), "short", "at least 10 characters"),
    ],
)
def test_mistakes_are_named_and_change_nothing(
    console: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    assert run(monkeypatch, *args, stdin=stdin) == 1
    assert message in capsys.readouterr().err
    assert login_status(console, "ada", PASSWORD) == 303


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True
