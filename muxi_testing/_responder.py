"""Writing answers (whole or streamed) through a fault plan: the only place faults touch the wire."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio

from ._http import ResponseWriter
from .faults import FaultPlan

__all__ = ["Responder"]

HeaderList = Iterable[tuple[str, str]]
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class Responder:
    """One response: ``send`` a whole body, or ``open_stream`` then ``frame`` ... ``close_stream``.

    With a :class:`FaultPlan` it drops the connection where the plan says and slows streams down;
    without one it is a thin pass-through to the :class:`ResponseWriter`.
    """

    __slots__ = ("_broken", "_frames", "_plan", "_writer", "extra_headers", "status")

    def __init__(self, writer: ResponseWriter, plan: FaultPlan | None) -> None:
        self._writer = writer
        self._plan = plan
        self._frames = 0
        self._broken = False
        self.extra_headers: list[tuple[str, str]] = []
        self.status = 0

    @property
    def gone(self) -> bool:
        """True once the client left (or a fault closed the connection)."""
        return self._broken or self._writer.closed

    async def send(self, status: int, headers: HeaderList, body: bytes) -> None:
        """A whole response with ``Content-Length``."""
        self.status = status
        hdrs = [*headers, *self.extra_headers]
        plan = self._plan
        if plan is not None and plan.drop is not None:
            if plan.drop == "headers":
                await self._writer.close()
                return
            await self._writer.start(status, hdrs, content_length=len(body))
            await self._writer.write(body[: len(body) // 2])
            await self._writer.abort()
            return
        await self._writer.respond(status, hdrs, body)

    async def open_stream(self, status: int, headers: HeaderList) -> None:
        """Send the head of a chunked (streamed) response."""
        self.status = status
        plan = self._plan
        if plan is not None and plan.drop == "headers":
            await self._writer.close()
            return
        await self._writer.start(status, [*headers, *self.extra_headers])

    async def frame(self, data: bytes) -> bool:
        """Send one stream frame; False once the connection is gone (stop producing).

        A client that left is not an error here: work behind the stream (a deployment) goes on,
        as on the real server, and only the writing stops.
        """
        writer = self._writer
        if self._broken or writer.closed or writer.ended or not writer.started:
            return False
        plan = self._plan
        try:
            if plan is not None:
                if plan.stream_delay:
                    await anyio.sleep(plan.stream_delay)
                if plan.drop in ("mid_body", "mid_stream") and self._frames >= 1 and not data.startswith(b":"):
                    await writer.abort()
                    return False
            await writer.write(data)
        except _GONE:
            self._broken = True
            return False
        if not data.startswith(b":"):
            self._frames += 1
        return True

    async def close_stream(self) -> None:
        """End a streamed body (the last-chunk marker)."""
        writer = self._writer
        if writer.started and not writer.ended and not self.gone:
            try:
                await writer.end()
            except _GONE:
                self._broken = True

    async def guarded(self, body: Callable[[], Awaitable[object]]) -> None:
        """Run ``body`` and stop it early if the client goes away."""
        await self._writer.guarded(body)

    async def garbage(self, data: bytes) -> None:
        """Bytes that are not HTTP, then close."""
        await self._writer.write_raw(data)
        await self._writer.close()
