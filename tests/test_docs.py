"""The docs cannot drift from the code: every setting and the default policies appear in them.

Regenerate docs/configuration.md with ``.venv/bin/python -m tests.test_docs``.
"""

from __future__ import annotations

from pathlib import Path

from loneguard.device.config import SETTINGS as DEVICE_SETTINGS
from loneguard.device.config import example_toml
from loneguard.server.config import SETTINGS as HUB_SETTINGS
from loneguard.server.config import settings_markdown
from loneguard.server.escalation.policy import DEFAULT_POLICIES_TOML

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONFIGURATION = DOCS / "configuration.md"


def render_configuration() -> str:
    return f"""# Configuration

Both programs read a TOML file (`--config FILE`, or the path in `LONEGUARD_CONFIG`); environment
variables override the file. A wrong type, a value out of bounds, an unknown key or an unknown
section stops the start with an error that names the key, for example
`http.listen (from LONEGUARD_HTTP): ...` or `pins.led: GPIO 17 is already used by pins.checkin`.

## Hub (`loneguard-hub`)

{settings_markdown().strip()}

### Escalation policies

Policies are named ladders under `[policies.NAME]`. Each step has `after` (a duration from the
alarm's start: `30s`, `5m`, `1h30m`), `notify` (roles `worker`, `visit_contact`, `worker_home`,
`line_manager`, `admins`, `on_call`, or `person:NAME`), `channels` (`console`, `sms`, `call`,
`apprise`; a `call` is rung by the hub's modem, or is a task on the alarm page for a person to
ring where no modem rings: [calls.md](calls.md)), a `message`, and optionally `repeat_every`
(repeat until someone acknowledges). A policy in the config replaces the shipped one of the same
name. The shipped defaults:

```toml
{DEFAULT_POLICIES_TOML.strip()}
```

## Device (`loneguard-device`)

Every setting with its default, bounds and help (`python -m loneguard.device.config` prints
this file):

```toml
{example_toml().strip()}
```
"""


def test_configuration_doc_is_current() -> None:
    assert CONFIGURATION.read_text() == render_configuration(), (
        "docs/configuration.md is stale: run .venv/bin/python -m tests.test_docs"
    )


def test_every_setting_is_documented() -> None:
    text = CONFIGURATION.read_text()
    for setting in HUB_SETTINGS:
        assert f"`{setting.name}`" in text
    for device_setting in DEVICE_SETTINGS:
        assert f"{device_setting.key} = " in text


if __name__ == "__main__":
    CONFIGURATION.write_text(render_configuration())
    print(f"wrote {CONFIGURATION}")
