"""A call's result with the HTTP response it came in: ``client.with_raw_response.get_agents()``.

For what the parsed result leaves out: the status (201 or 200), the runtime's request id, rate-limit
headers from a proxy, a ``Retry-After`` on a 2xx answer, and how many attempts the call took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .http import Headers, Request, get_header, get_headers
from .responses import parse_retry_after

__all__ = ["RawResponse"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RawResponse(Generic[R]):
    """The parsed result (``parse()``, or :attr:`result`) with the final response's status and
    headers, the request that got it (the last attempt) and the number of attempts.

    For stream methods the result is the open stream: iterate it (and close it) as usual.
    """

    status_code: int
    headers: Headers
    result: R
    request: Request
    attempts: int = 1

    def parse(self) -> R:
        """The method's usual result."""
        return self.result

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        return get_headers(self.headers, name)

    @property
    def request_id(self) -> str | None:
        """The runtime's request id: the envelope's ``request.id``, else the ``X-Request-ID`` header."""
        result = self.result
        if isinstance(result, dict):
            value = result.get("request_id")
            if isinstance(value, str) and value:
                return value
        return get_header(self.headers, "x-request-id")

    def retry_after(self, *, now: float) -> float | None:
        """Seconds the server asked to wait before the next call (``Retry-After``), if it did."""
        return parse_retry_after(get_header(self.headers, "retry-after"), now=now)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status_code} {self.request.method} {self.request.url} attempts={self.attempts}>"
