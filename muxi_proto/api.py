"""Endpoints as objects, as sans-IO methods, and as real client methods; the endpoint registry.

An endpoint is declared once in :mod:`muxi_proto.endpoints`::

    @endpoint("GET", "/agents/{agent_id}", Auth.ADMIN)
    def get_agent(route: Route, agent_id: str) -> Spec[Result]:
        \"\"\"One agent (admin).\"\"\"
        return route.json(agent_id=agent_id)

The decorator makes it an :class:`Endpoint` that is, at once:

* an entry of the registry (``FormationAPI.endpoints["get_agent"]``, or the attribute
  ``FormationAPI.get_agent``) with its plane, routes (method, path template, credential), and
  whether it streams, for tools and tests;
* a method of the sans-IO APIs: ``FormationAPI(cfg).get_agent("a1")`` returns a
  :class:`~muxi_proto.call.CallMachine` for a driver to run (``Endpoint.prepare`` does the same
  from the registry);
* a real method of every client (``SyncInvoker`` / ``AsyncInvoker`` subclasses): a function with
  the endpoint's own signature and docstring is installed on the class when it is created, so
  ``inspect.signature``, ``help()``, pydoc and ``inspect.getmembers`` see it as they see the
  official SDK's methods, and type checkers see its real parameters and return type through the
  overloads of ``__get__`` below.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar, overload

from ._async.interfaces import AsyncEventIterator, AsyncRunner
from ._sync.interfaces import EventIterator, Runner
from .call import DEFAULT_MAX_BODY, CallMachine, CallSettings, Machine
from .config import ConfigFields, FormationConfig, ServerConfig
from .errors import ConfigurationError
from .options import OPTION_NAMES, CallOptions, Unpack, check_options
from .polling import PollMachine
from .raw_response import RawResponse
from .requests import Auth
from .retry import RetryPolicy
from .specs import Route, Spec, StreamMachine, StreamSpec
from .sse import ServerSentEvent

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = [
    "AsyncEventIterator",
    "AsyncInvoker",
    "CallFactory",
    "Endpoint",
    "EventIterator",
    "Helper",
    "StreamEndpoint",
    "SyncInvoker",
    "SyncRawInvoker",
    "AsyncRawInvoker",
    "endpoint",
    "helper",
    "stream_endpoint",
]

P = ParamSpec("P")
R = TypeVar("R")
E = TypeVar("E")

Config = ServerConfig | FormationConfig


def _constructor_signature(cls: type) -> inspect.Signature:
    """``cls(...)`` as users call it: its constructor's own keywords, then its config's fields
    (instead of the ``**config_fields`` catch-all), with the config's defaults."""
    config_type = getattr(cls, "_config_type", None)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    own = [p for p in params if p.kind is not p.VAR_KEYWORD]
    if config_type is None or len(own) == len(params):  # no config keywords (a raw-response view)
        return inspect.Signature(own)
    hints = typing.get_type_hints(config_type)
    taken = {p.name for p in own}
    fields = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(f.name, f.type),
                          default=None if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(config_type) if f.name not in taken and not f.name.startswith("_")
    ]
    return inspect.Signature([*own, *fields])



# --- endpoints -------------------------------------------------------------------------------------


M = TypeVar("M")


class _ResultMethod(Generic[P, R, M]):
    """How type checkers see an endpoint or helper that answers with ``R``, on each kind of owner:
    a blocking or async client method (or its raw response), and on a sans-IO API a method returning
    the machine ``M``. One set of overloads for :class:`Endpoint` and :class:`Helper`."""

    _bind: Callable[[Any], Any]  # the method bound to an instance (each class defines it)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: SyncRawInvoker, owner: type | None = None) -> Callable[P, RawResponse[R]]: ...
    @overload
    def __get__(self, obj: AsyncRawInvoker, owner: type | None = None) -> Callable[P, Awaitable[RawResponse[R]]]: ...
    @overload
    def __get__(self, obj: SyncInvoker, owner: type | None = None) -> Callable[P, R]: ...
    @overload
    def __get__(self, obj: AsyncInvoker, owner: type | None = None) -> Callable[P, Awaitable[R]]: ...
    @overload
    def __get__(self, obj: CallFactory, owner: type | None = None) -> Callable[P, M]: ...
    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        return self._bind(obj)


class _Base(Generic[P, R]):
    """What both endpoint kinds share: the route(s), the builder, the signature, the registry data."""

    #: True for streamed endpoints.
    stream: ClassVar[bool] = False

    def __init__(self, route: Route, build: Callable[Concatenate[Route, P], Any]) -> None:
        self.route = route
        self._build = build
        self.name: str = build.__name__
        self.plane = ""
        self.__name__ = build.__name__
        self.__qualname__ = build.__qualname__
        self.__doc__ = build.__doc__
        self.__module__ = build.__module__
        params = list(inspect.signature(build).parameters.values())[1:]  # the route is not a parameter
        self._hints = _hints(build)
        params = [p.replace(annotation=self._hints.get(p.name, p.annotation)) for p in params]
        self._parameters = _with_option_parameters(params)
        self.__signature__ = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY), *self._parameters],
            return_annotation="CallMachine",
        )

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.__name__ = name
        self.plane = getattr(owner, "plane", "")

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route this endpoint may use: the main one, then its alternates."""
        return (self.route, *self.route.also)

    @property
    def parameters(self) -> tuple[inspect.Parameter, ...]:
        """The method's own parameters (without ``self``), as ``inspect.signature`` shows them."""
        return tuple(self._parameters)

    def result_annotation(self) -> Any:
        """What the method returns (for a stream endpoint: the event type), resolved when possible."""
        hint = self._hints.get("return")
        if hint is None:
            return inspect.signature(self._build).return_annotation
        args = typing.get_args(hint)
        result = args[0] if args else Any
        return None if result is type(None) else result

    def prepare(self, target: CallFactory | Config, /, *args: P.args, **kwargs: P.kwargs) -> CallMachine[R]:
        """A :class:`~muxi_proto.call.CallMachine` for this call, with ``target``'s settings
        (an API or client instance) or a config's defaults."""
        if not isinstance(target, CallFactory):
            if not isinstance(target, ServerConfig | FormationConfig):
                raise ConfigurationError("INVALID_CONFIG", f"prepare() needs an API, a client or a config, "
                                         f"not {type(target).__name__}")
            settings = CallSettings.for_config(target)
            self._check_plane(target)
        else:
            settings = target.settings
        options = _pop_options(kwargs) if kwargs else None
        return CallMachine(self._build(self.route, *args, **kwargs), settings, options=options)

    def _check_plane(self, config: Config) -> None:
        wanted = ServerConfig if self.plane == "server" else FormationConfig
        if not isinstance(config, wanted):
            raise ConfigurationError(
                "INVALID_CONFIG", f"{self.plane} endpoint {self.name} needs a {wanted.__name__}"
            )

    def __call__(self, api: CallFactory, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """``FormationAPI.get_agents(api)`` is ``api.get_agents()``, as for any method."""
        return getattr(api, self.name)(*args, **kwargs)

    def _machine_method(self) -> Callable[..., CallMachine[R]]:
        method: Callable[..., CallMachine[R]] | None = self.__dict__.get("_machine_fn")
        if method is None:
            build, route = self._build, self.route

            def method(api: CallFactory, /, *args: Any, **kwargs: Any) -> CallMachine[R]:
                options = _pop_options(kwargs) if kwargs else None
                return CallMachine(build(route, *args, **kwargs), api.settings, options=options)

            self._machine_fn = method = _named(method, self, "CallMachine")
        return method

    def _bind(self, obj: Any) -> Any:
        return types.MethodType(self._machine_method(), obj)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        return self._bind(obj)

    def __repr__(self) -> str:
        routes = ", ".join(f"{r.method} {r.path}" for r in self.routes)
        return f"<{type(self).__name__} {self.plane}.{self.name}: {routes} ({self.route.auth.value})>"


class Endpoint(_ResultMethod[P, R, CallMachine[R]], _Base[P, R]):
    """A request/response endpoint; see the module docstring."""

    def spec(self, *args: P.args, **kwargs: P.kwargs) -> Spec[R]:
        """The :class:`~muxi_proto.specs.Spec` for these arguments (what the call will do)."""
        if kwargs:
            _pop_options(kwargs)  # per-call options are the machine's, not part of the spec
        spec: Spec[R] = self._build(self.route, *args, **kwargs)
        return spec


class StreamEndpoint(_Base[P, E]):
    """A streaming endpoint: sync clients return an iterator, async ones an awaitable of one."""

    stream: ClassVar[bool] = True

    def spec(self, *args: P.args, **kwargs: P.kwargs) -> StreamSpec[E]:
        """The :class:`~muxi_proto.specs.StreamSpec` for these arguments."""
        if kwargs:
            _pop_options(kwargs)  # per-call options are the machine's, not part of the spec
        spec: StreamSpec[E] = self._build(self.route, *args, **kwargs)
        return spec

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> StreamEndpoint[P, E]: ...
    @overload
    def __get__(
        self, obj: SyncRawInvoker, owner: type | None = None
    ) -> Callable[P, RawResponse[EventIterator[E]]]: ...
    @overload
    def __get__(
        self, obj: AsyncRawInvoker, owner: type | None = None
    ) -> Callable[P, Awaitable[RawResponse[AsyncEventIterator[E]]]]: ...
    @overload
    def __get__(self, obj: SyncInvoker, owner: type | None = None) -> Callable[P, EventIterator[E]]: ...
    @overload
    def __get__(
        self, obj: AsyncInvoker, owner: type | None = None
    ) -> Callable[P, Awaitable[AsyncEventIterator[E]]]: ...
    @overload
    def __get__(self, obj: CallFactory, owner: type | None = None) -> Callable[P, CallMachine[E]]: ...
    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return super().__get__(obj, owner)


class Helper(_ResultMethod[P, R, PollMachine[R]]):
    """A client method made of several calls (polling, paging), not a route of its own: its
    function takes the API (or client) and returns a machine with the call machine's events and
    instructions (:class:`~muxi_proto.polling.PollMachine`), so every driver runs it."""

    stream: ClassVar[bool] = False

    def __init__(self, make: Callable[Concatenate[Any, P], Any]) -> None:
        self._make = make
        self.name: str = make.__name__
        self.plane = ""
        self.__name__ = make.__name__
        self.__qualname__ = make.__qualname__
        self.__doc__ = make.__doc__
        self.__module__ = make.__module__
        params = list(inspect.signature(make).parameters.values())[1:]  # the API
        hints = _hints(make)
        self._parameters = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in params]
        self._hints = hints

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.__name__ = name
        self.plane = getattr(owner, "plane", "")

    @property
    def parameters(self) -> tuple[inspect.Parameter, ...]:
        """The method's own parameters (without ``self``)."""
        return tuple(self._parameters)

    def result_annotation(self) -> Any:
        """What the method returns."""
        hint = self._hints.get("return")
        args = typing.get_args(hint) if hint is not None else ()
        return args[0] if args else Any

    def _bind(self, obj: Any) -> Any:
        return types.MethodType(self._make, obj)

    def __repr__(self) -> str:
        return f"<Helper {self.plane}.{self.name}>"


def helper(make: Callable[Concatenate[Any, P], PollMachine[R]]) -> Helper[P, R]:
    """Declare a helper method (see :class:`Helper`)."""
    return Helper(make)


# --- the sans-IO API base --------------------------------------------------------------------------


class CallFactory:
    """Base of :class:`~muxi_proto.endpoints.ServerAPI` and :class:`~muxi_proto.endpoints.FormationAPI`.

    An instance holds a config and the :class:`~muxi_proto.call.CallSettings` built from it; each
    endpoint method returns a :class:`~muxi_proto.call.CallMachine` for that call. The clients
    derive from these classes and run the machines over a transport.
    """

    #: The config class this plane takes.
    _config_type: ClassVar[type[ServerConfig] | type[FormationConfig]]
    #: ``"server"`` (control plane) or ``"formation"``.
    plane: ClassVar[str] = ""
    #: Every endpoint of the plane by name, in declaration order (read-only).
    endpoints: ClassVar[Mapping[str, Endpoint[Any, Any] | StreamEndpoint[Any, Any]]] = MappingProxyType({})
    #: Methods made of several calls (``wait_for_request``), by name.
    helpers: ClassVar[Mapping[str, Helper[Any, Any]]] = MappingProxyType({})

    config: Config
    settings: CallSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Endpoint[Any, Any] | StreamEndpoint[Any, Any]] = {}
        helpers: dict[str, Helper[Any, Any]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Endpoint | StreamEndpoint):
                    found[name] = value
                elif isinstance(value, Helper):
                    helpers[name] = value
        cls.endpoints = MappingProxyType(found)
        cls.helpers = MappingProxyType(helpers)
        cls.__signature__ = _constructor_signature(cls)  # type: ignore[attr-defined]

    def __init__(
        self,
        cfg: Config | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], float] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        new_id: Callable[[], str] | None = None,
        **config_fields: Unpack[ConfigFields],
    ) -> None:
        """``cfg``, or the config's fields as keywords (``MUXI_*`` variables fill the rest).

        ``retry_policy`` tunes retries (its ``max_retries`` defaults to the config's); ``clock``
        and ``new_id`` (idempotency keys) are injectable for tests; ``max_body`` bounds answers.
        """
        self._configure(cfg, dict(config_fields), retry_policy, clock, max_body, new_id)

    def _configure(
        self,
        cfg: Config | None,
        config_fields: dict[str, Any],
        retry_policy: RetryPolicy | None,
        clock: Callable[[], float] | None,
        max_body: int,
        new_id: Callable[[], str] | None,
    ) -> None:
        config_type = self._config_type
        if cfg is None:
            cfg = config_type.from_env(**config_fields)
        elif config_fields:
            raise ConfigurationError(
                "INVALID_CONFIG", f"pass either cfg or keyword settings, not both: {sorted(config_fields)}"
            )
        elif not isinstance(cfg, config_type):
            raise ConfigurationError("INVALID_CONFIG", f"cfg must be a {config_type.__name__}")
        self.config = cfg
        self.settings = CallSettings.for_config(cfg, retry=retry_policy, clock=clock, max_body=max_body, new_id=new_id)

    def with_options(self, **options: Unpack[CallOptions]) -> Self:
        """A copy whose calls all use ``options`` (``timeout``, ``extra_headers``,
        ``idempotency_key``, ``max_retries``, ``idle_timeout``); a client's copy shares its
        transport and pool."""
        clone = copy.copy(self)
        clone.settings = self.settings.with_options(options)
        clone._copied()
        return clone

    def _copied(self) -> None:
        """Hook for :meth:`with_options`: adjust what a copy must not share."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.settings.builder.base_url}>"


class _Invoker(CallFactory):
    """What both client bases share: a real method per endpoint and helper, installed on each
    subclass (coroutine functions where ``_asynchronous`` is set)."""

    _asynchronous: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.endpoints or cls.helpers:  # not the bases below, made before _install is
            _install(cls, asynchronous=cls._asynchronous)


class SyncInvoker(Runner, _Invoker):
    """Base of blocking clients: runs call machines to their end.

    Subclasses implement :meth:`perform` and :meth:`perform_stream` (a driver loop, see
    docs/drivers.md); every endpoint becomes a real method calling them.
    """


class AsyncInvoker(AsyncRunner, _Invoker):
    """Base of async clients: as :class:`SyncInvoker`, with coroutines."""

    _asynchronous = True


def endpoint(
    method: str,
    path: str,
    auth: Auth,
    *,
    idempotent: bool = False,
    also: tuple[tuple[str, str], ...] = (),
) -> Callable[[Callable[Concatenate[Route, P], Spec[R]]], Endpoint[P, R]]:
    """Declare a request/response endpoint on ``method path`` with credential ``auth``.

    The decorated function takes the :class:`~muxi_proto.specs.Route` and the method's arguments
    and returns the call's spec. ``also`` lists alternate ``(method, path)`` routes with the same
    credential (``route.also[i]``); ``idempotent`` marks a POST the runtime deduplicates.
    """
    route = Route(method, path, auth, idempotent=idempotent,
                  also=tuple(Route(m, p, auth) for m, p in also))

    def decorate(build: Callable[Concatenate[Route, P], Spec[R]]) -> Endpoint[P, R]:
        return Endpoint(route, build)

    return decorate


def stream_endpoint(
    method: str,
    path: str,
    auth: Auth,
    decoder: Callable[[], StreamMachine[ServerSentEvent]],
    *,
    also: tuple[tuple[str, str], ...] = (),
) -> Callable[[Callable[Concatenate[Route, P], StreamSpec[E]]], StreamEndpoint[P, E]]:
    """Declare a streamed endpoint; ``decoder`` makes the stream machine of each call."""
    route = Route(method, path, auth, stream=True, decoder=decoder,
                  also=tuple(Route(m, p, auth, stream=True, decoder=decoder) for m, p in also))

    def decorate(build: Callable[Concatenate[Route, P], StreamSpec[E]]) -> StreamEndpoint[P, E]:
        return StreamEndpoint(route, build)

    return decorate


class _NotGiven:
    """The default of an option parameter in signatures: "the client's setting"."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()
_OPTION_TYPES = typing.get_type_hints(CallOptions)


def _with_option_parameters(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """``params`` with the ``**options`` catch-all shown as the options' own keywords."""
    kept = [p for p in params if not (p.kind is p.VAR_KEYWORD and p.name == "options")]
    # A catch-all of the endpoint's own (update_scheduler_job's fields) stays last.
    tail = [p for p in kept if p.kind is p.VAR_KEYWORD]
    shown = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=NOT_GIVEN, annotation=kind)
             for name, kind in _OPTION_TYPES.items()]
    return [*(p for p in kept if p.kind is not p.VAR_KEYWORD), *shown, *tail]


def _pop_options(kwargs: dict[str, Any]) -> CallOptions | None:
    """Take the per-call options out of a method's keywords (checked), or None."""
    if OPTION_NAMES.isdisjoint(kwargs):
        return None
    return check_options({name: kwargs.pop(name) for name in OPTION_NAMES & kwargs.keys()})


def _hints(build: Callable[..., Any]) -> dict[str, Any]:
    """The evaluated annotations of ``build`` (empty when a name only a type checker knows is used)."""
    try:
        return typing.get_type_hints(build)
    except Exception:
        return {}


# --- real methods on the clients -------------------------------------------------------------------


def _named(function: Callable[..., Any], ep: _Base[Any, Any], returns: Any, owner: type | None = None) -> Any:
    function.__name__ = ep.name
    function.__qualname__ = f"{owner.__qualname__}.{ep.name}" if owner is not None else ep.__qualname__
    function.__doc__ = ep.__doc__
    function.__module__ = owner.__module__ if owner is not None else ep.__module__
    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *ep.parameters],
        return_annotation=returns,
    )
    function.endpoint = ep  # type: ignore[attr-defined]  # the registry entry, for tools
    return function


def _install(cls: type, *, asynchronous: bool) -> None:
    """Give ``cls`` a real function per endpoint and helper it does not define or inherit as one."""
    for name, ep in getattr(cls, "endpoints", {}).items():
        if inspect.getattr_static(cls, name) is not ep:
            continue  # overridden, or installed on a base class already
        setattr(cls, name, _client_method(ep, cls, asynchronous=asynchronous))
    for name, hp in getattr(cls, "helpers", {}).items():
        if inspect.getattr_static(cls, name) is hp:
            setattr(cls, name, _helper_method(hp, cls, asynchronous=asynchronous))


def _helper_method(hp: Helper[Any, Any], owner: type, *, asynchronous: bool) -> Callable[..., Any]:
    make = hp._make
    returns: Any = hp.result_annotation()
    if issubclass(owner, _RawView):
        returns = RawResponse[returns]
    method: Callable[..., Any]
    if asynchronous:
        async def method(self: AsyncInvoker, /, *args: Any, **kwargs: Any) -> Any:
            return await self.perform(make(self, *args, **kwargs))
    else:
        def method(self: SyncInvoker, /, *args: Any, **kwargs: Any) -> Any:
            return self.perform(make(self, *args, **kwargs))
    return _named(method, hp, returns, owner)  # type: ignore[arg-type, no-any-return]


def _client_method(ep: _Base[Any, Any], owner: type, *, asynchronous: bool) -> Callable[..., Any]:
    build, route = ep._build, ep.route
    result = ep.result_annotation()
    if ep.stream:
        returns: Any = (AsyncEventIterator if asynchronous else EventIterator)[result]
    else:
        returns = result
    if issubclass(owner, _RawView):
        returns = RawResponse[returns]
    method: Callable[..., Any]
    # Four near-identical bodies rather than one with flags: this is every call's hot path.
    if asynchronous:
        if ep.stream:
            async def method(self: AsyncInvoker, /, *args: Any, **kwargs: Any) -> Any:
                options = _pop_options(kwargs) if kwargs else None
                return await self.perform_stream(
                    CallMachine(build(route, *args, **kwargs), self.settings, options=options))
        else:
            async def method(self: AsyncInvoker, /, *args: Any, **kwargs: Any) -> Any:
                options = _pop_options(kwargs) if kwargs else None
                return await self.perform(CallMachine(build(route, *args, **kwargs), self.settings, options=options))
    elif ep.stream:
        def method(self: SyncInvoker, /, *args: Any, **kwargs: Any) -> Any:
            options = _pop_options(kwargs) if kwargs else None
            return self.perform_stream(CallMachine(build(route, *args, **kwargs), self.settings, options=options))
    else:
        def method(self: SyncInvoker, /, *args: Any, **kwargs: Any) -> Any:
            options = _pop_options(kwargs) if kwargs else None
            return self.perform(CallMachine(build(route, *args, **kwargs), self.settings, options=options))
    return _named(method, ep, returns, owner)  # type: ignore[no-any-return]


# --- raw-response views of the clients -----------------------------------------------------------


class _RawView(CallFactory):
    """A client's methods returning :class:`~muxi_proto.raw_response.RawResponse` values
    (``client.with_raw_response``); it runs every call on that client."""

    def __init__(self, client: SyncInvoker | AsyncInvoker) -> None:
        self._client = client
        self.config = client.config
        self.settings = client.settings

    def perform(self, machine: Machine[R], *, raw: bool = True) -> Any:
        """Run ``machine`` on the client, to its raw response (an async client's: awaitable)."""
        return self._client.perform(machine, raw=True)

    def perform_stream(self, machine: CallMachine[Any], *, raw: bool = True) -> Any:
        """Open the stream on the client, as a raw response around it (an async client's: awaitable)."""
        return self._client.perform_stream(machine, raw=True)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class SyncRawInvoker(_RawView, SyncInvoker):
    """A blocking client's methods returning :class:`~muxi_proto.raw_response.RawResponse` values
    (``client.with_raw_response``); it runs every call on that client."""


class AsyncRawInvoker(_RawView, AsyncInvoker):
    """An async client's methods returning raw responses (``client.with_raw_response``)."""
