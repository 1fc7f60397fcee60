"""The console's settings: the ``[console]`` section of the hub's configuration, declared here."""

from __future__ import annotations

from loneguard.server.settings_schema import SettingsModel, setting


class ConsoleSettings(SettingsModel):
    session_hours: float = setting(
        12.0, "How long a console login lasts, in hours.", ge=0.1, le=24 * 30
    )
    cookie_secure: bool = setting(
        False,
        "Mark the console's login cookie Secure (sent over HTTPS only): set it when the hub is "
        "served behind HTTPS.",
    )
    visit_retention_days: int = setting(
        0,
        "Days after a visit ends before its address, contact and visit record are purged (and "
        "signal black spots at addresses not visited since); `0` keeps them.",
        ge=0,
        le=36500,
    )
    max_login_failures: int = setting(
        5,
        "Failed console logins allowed per user name and per address in 15 minutes; further "
        "tries are refused until the oldest failure is 15 minutes old.",
        ge=1,
        le=1000,
    )
