"""Test helpers: local servers on 127.0.0.1 for exercising transports, clients and apps.

- :class:`LocalMuxiServer`: a MUXI-compatible server (control plane and formation runtimes), in
  memory, with scripted chat replies, signed webhooks and fault injection.
- :class:`HTTPTestServer`: a scriptable HTTP/1.1 server for transport tests.
- ``pytest_plugins = ["muxi_transports.testing.fixtures"]`` gives a ``muxi_server`` fixture;
  ``python -m muxi_transports.testing`` serves from the command line.
"""

from ._chat import ReplyFunction, ScriptedReply, echo
from ._state import Trigger
from ._webhooks import WebhookDelivery
from .faults import Faults, SeenRequest, Traffic
from .httpserver import Handler, HTTPTestServer, ResponseWriter, ServerRequest
from .server import DEFAULT_FORMATION_ID, LocalMuxiServer

__all__ = [
    "DEFAULT_FORMATION_ID",
    "Faults",
    "HTTPTestServer",
    "Handler",
    "LocalMuxiServer",
    "ReplyFunction",
    "ResponseWriter",
    "ScriptedReply",
    "SeenRequest",
    "ServerRequest",
    "Traffic",
    "Trigger",
    "WebhookDelivery",
    "echo",
]
