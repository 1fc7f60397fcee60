"""The console's settings: the ``[console]`` section of the hub's configuration, declared here."""

from __future__ import annotations

from loneguard.server.settings_schema import SettingsModel, setting


class ConsoleSettings(SettingsModel):
    session_hours: float = setting(
        12.0, "How long a console login lasts, in hours.", ge=0.1, le=24 * 30
    )
    cookie_secure: bool = setting(
        False,
        "Mark the console's login cookie Secure (sent over HTTPS only) always. Without it the "
        "cookie is Secure whenever the login came over HTTPS: directly, or through a proxy "
        "named in `http.trusted_proxies` that says so in `X-Forwarded-Proto`.",
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
        "Failed console logins per user name, and per client address, in 15 minutes before the "
        "next tries of that name (or from that address) are slowed down: each waits 1 s, 2 s, "
        "4 s, … (at most `console.max_login_delay_s`) before its password is checked. A correct "
        "password is always let in.",
        ge=1,
        le=1000,
    )
    max_login_delay_s: float = setting(
        30.0,
        "The longest a slowed-down console login waits before its password is checked, in seconds.",
        ge=1,
        le=600,
    )
