"""Standard-library modules the unit's libraries import at load time, loaded only when used.

paho imports ``ssl`` and ``hashlib`` (TLS, the websocket handshake) and ``urllib.request``
(proxy settings, read only when PySocks is installed); Python's ``http.client``, which the
simulator's web page pulls in, imports ``ssl`` too. ``ssl`` and ``hashlib`` map OpenSSL's
libcrypto, about 5 MB of a unit's memory, and ``urllib.request`` is another web client. A
unit on a plain ``mqtt://`` broker uses none of them, and with ``mqtts://`` TLS loads them at
its first connection, so ``defer_unused_imports`` puts a stand-in in their place before the
libraries load: the library's ``import`` binds the stand-in, and the first attribute anyone
reads from it imports the real module, which every later ``import`` gets as usual.

Installed only by the unit's run path (``cli``), never on import, so tests and the hub keep
Python's ordinary imports.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

DEFERRED = ("ssl", "hashlib", "urllib.request")
_SWAP = threading.Lock()


class DeferredModule(types.ModuleType):
    """A stand-in for module ``name``: the first attribute read from it imports the real one."""

    def _real(self) -> types.ModuleType:
        real: types.ModuleType | None = self.__dict__.get("_deferred_real")
        if real is None:
            name = self.__name__
            # Only the stand-in is taken out, never a real module another thread has begun to
            # import; the import system's lock per module then lets one thread run the module
            # and hands every other the same module. No import runs under this lock.
            with _SWAP:
                if sys.modules.get(name) is self:
                    del sys.modules[name]
            real = importlib.import_module(name)
            self.__dict__["_deferred_real"] = real
        return real

    def __getattr__(self, attr: str) -> Any:
        # Called only for names the stand-in lacks; the import system reads dunders such as
        # __spec__ and __path__ to tell a loaded module from one to find, so they stay missing.
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return getattr(self._real(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        # mock.patch and the like set names on the module they import: that is the real one.
        setattr(self._real(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._real(), attr)


def is_deferred(module: object) -> bool:
    """Whether ``module`` is a stand-in not yet replaced by the real module."""
    return isinstance(module, DeferredModule) and "_deferred_real" not in module.__dict__


def defer_unused_imports(names: tuple[str, ...] = DEFERRED) -> None:
    """Put a stand-in in ``sys.modules`` for each of ``names`` not imported yet."""
    for name in names:
        if name in sys.modules:
            continue
        stand_in = DeferredModule(name)
        parent_name, _, child = name.rpartition(".")
        if parent_name:
            # ``import urllib.request`` then ``urllib.request.x`` reads the parent's attribute.
            setattr(importlib.import_module(parent_name), child, stand_in)
        sys.modules[name] = stand_in
