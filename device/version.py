"""The firmware version the status message reports: the installed distribution's version."""

from importlib.metadata import PackageNotFoundError, version

try:
    FW_VERSION = version("loneguard")
except PackageNotFoundError:  # running from a source tree that was never installed
    FW_VERSION = "0.0.0+source"
