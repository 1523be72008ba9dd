"""muxi_testing: a local MUXI-compatible server for your tests, recorded from the real runtime.

- :class:`LocalMuxiServer`: the MUXI server (control plane) and the runtime of each deployed
  formation, on 127.0.0.1, in memory, with scripted chat replies, signed webhooks and fault
  injection. It can serve your own formation directory (``formation=``).
- a pytest plugin (``muxi_server`` and ``muxi_server_factory`` fixtures), registered when the
  package is installed;
- ``python -m muxi_testing``: the same server for other processes and other languages.
"""

from ._chat import ReplyFunction, ScriptedReply, echo
from ._webhooks import WebhookDelivery
from .faults import Faults, SeenRequest, Traffic
from .formation import FormationError, FormationSpec, Trigger, load_formation
from .server import DEFAULT_FORMATION_ID, LocalMuxiServer

__all__ = [
    "DEFAULT_FORMATION_ID",
    "Faults",
    "FormationError",
    "FormationSpec",
    "LocalMuxiServer",
    "ReplyFunction",
    "ScriptedReply",
    "SeenRequest",
    "Traffic",
    "Trigger",
    "WebhookDelivery",
    "echo",
    "load_formation",
]
