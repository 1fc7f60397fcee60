"""Open live streams by login: a login that ends also ends its stream, promptly.

Logging out and an admin disabling a user or changing their password close the streams at once
(``LiveLogins``); a login that expires, or is ended by another process (``loneguard-hub user
disable``), is noticed at the stream's next keep-alive, when it checks its login again. Either
way the browser gets a ``logged_out`` event and goes to the login page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from loneguard.server.escalation.notify.console_channel import KEEPALIVE_FRAME, sse_frame

RETRY_FRAME = "retry: 1000\n\n"  # reconnect a second after the hub goes away
LOGGED_OUT_FRAME = sse_frame("logged_out", {"reason": "the login has ended"}, None)


@dataclass(eq=False)
class _Stream:
    token_hash: str
    user_name: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class LiveLogins:
    """The open streams of each login; used on the event loop only."""

    def __init__(self) -> None:
        self._streams: set[_Stream] = set()

    @property
    def open(self) -> int:
        return len(self._streams)

    def end_login(self, token_hash: str) -> None:
        for stream in self._streams:
            if stream.token_hash == token_hash:
                stream.ended.set()

    def end_user(self, user_name: str) -> None:
        for stream in self._streams:
            if stream.user_name == user_name:
                stream.ended.set()

    def stream(
        self,
        token_hash: str,
        user_name: str,
        frames: AsyncIterator[str],
        still_logged_in: Callable[[], Awaitable[bool]],
    ) -> AsyncIterator[str]:
        """``frames`` until the login ends; then a ``logged_out`` event, and the stream closes."""
        watch = _Stream(token_hash, user_name)
        self._streams.add(watch)  # now, so a logout before the first read still counts
        return self._until_logged_out(watch, frames, still_logged_in)

    async def _until_logged_out(
        self,
        watch: _Stream,
        frames: AsyncIterator[str],
        still_logged_in: Callable[[], Awaitable[bool]],
    ) -> AsyncIterator[str]:
        ended: asyncio.Future[object] = asyncio.ensure_future(watch.ended.wait())
        next_frame: asyncio.Future[object] | None = None
        try:
            yield RETRY_FRAME
            while True:
                pending = next_frame or asyncio.ensure_future(anext(frames))
                next_frame = pending
                await asyncio.wait({pending, ended}, return_when=asyncio.FIRST_COMPLETED)
                if ended.done():
                    break
                next_frame = None
                try:
                    frame = str(pending.result())
                except StopAsyncIteration:
                    return  # the hub is stopping
                if frame == KEEPALIVE_FRAME and not await still_logged_in():
                    break
                yield frame
            yield LOGGED_OUT_FRAME
        finally:
            self._streams.discard(watch)
            ended.cancel()
            if next_frame is not None:
                next_frame.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_frame
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()
