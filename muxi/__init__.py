"""The official ``muxi`` SDK's import paths, served by muxi-client.

``from muxi import ServerClient, FormationClient, webhook`` and the rest of the official package's
names work unchanged; the clients underneath are muxi-client's (sans-IO core, pluggable transports).
"""

import sys

from muxi_proto import webhook
from muxi_proto.version import __version__

from . import errors
from .formation import AsyncFormationClient, FormationClient, FormationConfig, parse_ui_widgets
from .server import AsyncServerClient, ServerClient, ServerConfig

# ``muxi.webhook`` is the very module ``muxi_proto.webhook`` (one implementation, one set of globals).
sys.modules[__name__ + ".webhook"] = webhook

__all__ = [
    "AsyncFormationClient",
    "AsyncServerClient",
    "FormationClient",
    "FormationConfig",
    "ServerClient",
    "ServerConfig",
    "__version__",
    "errors",
    "parse_ui_widgets",
    "webhook",
]
