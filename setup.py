"""The package map, which pyproject.toml cannot compute: each top-level folder is one part of the
single import name ``loneguard`` (``protocol/`` installs as ``loneguard.protocol``, ``server/api/``
as ``loneguard.server.api``), so the distribution puts no other top-level name on ``sys.path``.
Everything else about the distribution is in pyproject.toml."""

from setuptools import find_packages, setup

PARTS = ("protocol", "gsm", "device", "server")

setup(
    packages=[
        f"loneguard.{name}"
        for name in find_packages(include=[pattern for p in PARTS for pattern in (p, f"{p}.*")])
    ],
    package_dir={f"loneguard.{part}": part for part in PARTS},
)
