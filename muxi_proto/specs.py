"""What one call is: its route, the operation built from it, and how the answer becomes a result.

A :class:`Route` is declared once per endpoint in :mod:`muxi_proto.endpoints` (method, path
template, credential, stream or not). The endpoint's function fills it with the call's arguments
and gets a :class:`Spec` (a JSON, text or bytes answer) or a :class:`StreamSpec` (an event stream
decoded by a :class:`StreamMachine`). Routes are the only way an endpoint makes a request, so the
route table that tools read (``FormationAPI.endpoints``) is exactly what goes on the wire.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .errors import ConfigurationError, MuxiError
from .http import Headers
from .requests import Auth, Operation, encode_json, quote_segment
from .responses import Decode
from .sse import ServerSentEvent

__all__ = ["Result", "Route", "Spec", "StreamMachine", "StreamSpec"]

R = TypeVar("R")
E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)

Result = dict[str, Any]
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Spec(Generic[R]):
    """A request and how its answer becomes the method's result.

    ``finish`` post-processes the decoded answer (e.g. pick one secret out of the list).
    ``fallback`` is ``(error class, spec)``: when the request fails with that error, the fallback
    spec is run instead, as a new logical request (``set_secret``: update, and create when the
    secret does not exist yet).
    """

    operation: Operation
    decode: Decode = Decode.JSON
    finish: Callable[[Any], R] | None = None
    fallback: tuple[type[MuxiError], Spec[R]] | None = None


class StreamMachine(Protocol[E_co]):
    """A pure stream decoder (see :mod:`muxi_proto.streams`): body bytes in, events out.

    The driver feeds every body chunk to :meth:`feed`, stops reading and closes the response once
    :attr:`finished` is true, and calls :meth:`eof` when the body ends (or after ``finished``).
    """

    def feed(self, data: bytes) -> Sequence[E_co]:
        """Decode a chunk; raise the typed error carried by an ``error`` frame."""

    @property
    def finished(self) -> bool:
        """True once the terminal event arrived: stop reading, release the connection."""

    def eof(self) -> None:
        """End of input: raise :class:`~muxi_proto.errors.StreamTruncatedError` if unfinished."""


@dataclass(frozen=True, slots=True)
class StreamSpec(Generic[E]):
    """A streamed request and the factory of the state machine that decodes its body."""

    operation: Operation
    machine: Callable[[], StreamMachine[E]]


def _discard(_: Any) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP route of an endpoint: method, path template, credential, and how it streams.

    ``path`` is relative to the plane's base URL, with ``{name}`` placeholders filled (and
    percent-encoded as one segment each) by :meth:`operation`. ``idempotent`` marks the POSTs the
    runtime deduplicates by idempotency key (so a retry is safe; docs/protocol.md §9).
    ``decoder`` is the stream machine factory of a streamed route. ``also`` holds alternate routes
    of the same endpoint (``set_secret`` creates with ``POST /secrets`` when ``PUT`` finds nothing).
    """

    method: str
    path: str
    auth: Auth
    stream: bool = False
    idempotent: bool = False
    decoder: Callable[[], StreamMachine[ServerSentEvent]] | None = field(default=None, compare=False, repr=False)
    also: tuple[Route, ...] = ()
    params: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(name for _, name, _, _ in string.Formatter().parse(self.path) if name)
        object.__setattr__(self, "params", names)
        if self.stream and self.decoder is None:
            raise ConfigurationError("INVALID_ENDPOINT", f"{self.method} {self.path}: a stream route needs a decoder")

    def operation(
        self,
        *,
        query: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        end_user: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Headers = (),
        **path_params: object,
    ) -> Operation:
        """The operation for these arguments: path filled, query without ``None`` values, JSON encoded.

        ``end_user`` is sent as ``X-Muxi-User-ID`` (the only place the runtime reads it from).
        """
        path = self.path
        if path_params or self.params:
            if len(path_params) != len(self.params) or not all(name in path_params for name in self.params):
                raise ConfigurationError(
                    "INVALID_ENDPOINT", f"{self.path} takes {list(self.params)}, got {sorted(path_params)}"
                )
            path = path.format_map({k: quote_segment(v) for k, v in path_params.items()})
        if json is not None:
            body, content_type = encode_json(json), JSON_TYPE
        return Operation(
            self.method,
            path,
            self.auth,
            query=Operation.query_from(query) if query else (),
            body=body,
            content_type=content_type if body is not None else None,
            headers=headers,
            user_id=end_user or None,
            stream=self.stream,
            idempotent_route=self.idempotent,
        )

    # The shapes of answer an endpoint can have; each returns the spec for these arguments.
    def json(self, **kwargs: Any) -> Spec[Any]:
        """A JSON answer (envelope unwrapped), typed by the endpoint's declared result
        (``Spec[AgentList]``: :mod:`muxi_proto.types`)."""
        return Spec(self.operation(**kwargs))

    def nothing(self, **kwargs: Any) -> Spec[None]:
        """An answer whose success body is discarded (errors still raise)."""
        return Spec(self.operation(**kwargs), Decode.AUTO, finish=_discard)

    def text(self, **kwargs: Any) -> Spec[str]:
        """A text answer."""
        return Spec(self.operation(**kwargs), Decode.TEXT)

    def raw(self, **kwargs: Any) -> Spec[bytes]:
        """The answer's bytes (e.g. a zip)."""
        return Spec(self.operation(**kwargs), Decode.BYTES)

    def auto(self, **kwargs: Any) -> Spec[Any]:
        """JSON when the answer is JSON, else text (routes whose format varies)."""
        return Spec(self.operation(**kwargs), Decode.AUTO)

    def events(self, **kwargs: Any) -> StreamSpec[ServerSentEvent]:
        """An event stream, decoded by this route's stream machine."""
        assert self.decoder is not None  # checked in __post_init__ for stream routes
        return StreamSpec(self.operation(**kwargs), self.decoder)
