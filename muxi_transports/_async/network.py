"""httpcore's network layer with every socket operation cut to the attempt's deadline.

The httpcore transports run their pools on these (see :mod:`muxi_transports._deadline`): each read,
write, connect and TLS start is bounded by the :data:`~muxi_transports._deadline.current_attempt`'s
deadline, each read is counted for it, and a connection can be retired from the pool.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

from .._asyncio_net import LoopBackend  # async only
from .._deadline import Retirable, bounded, current_attempt, cut_to

__all__ = ["AsyncDeadlineBackend", "AsyncNetworkStream"]


class AsyncNetworkStream(Retirable, httpcore.AsyncNetworkStream):
    """httpcore's network stream, each operation cut to the :data:`current_attempt`'s deadline."""

    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        super().__init__()
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        attempt = current_attempt.get()
        limit, cut = cut_to(attempt.deadline if attempt is not None else None, timeout)
        with cut:
            data = await self._inner.read(max_bytes, limit)
        if attempt is not None:
            attempt.saw(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limit, cut = bounded(timeout)
        with cut:
            await self._inner.write(buffer, limit)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        limit, cut = bounded(timeout)
        with cut:
            return AsyncNetworkStream(await self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        if self._discarded and info == "is_readable":
            return True
        return self._inner.get_extra_info(info)


class AsyncDeadlineBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with every operation cut to the attempt's deadline.

    ``inner`` does the work; by default httpcore's blocking backend, or for async code
    :class:`~muxi_transports._asyncio_net.LoopBackend` (asyncio's own socket calls, no anyio;
    httpcore's trio backend under trio).
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or LoopBackend()  # sync: self._inner = inner or httpcore.SyncBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit, cut = bounded(timeout)
        with cut:
            return AsyncNetworkStream(await self._inner.connect_tcp(host, port, limit, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        limit, cut = bounded(timeout)
        with cut:
            return AsyncNetworkStream(await self._inner.connect_unix_socket(path, limit, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
