"""``muxi.webhook``: at run time this name is the module ``muxi_proto.webhook`` itself (see
``muxi/__init__.py``); this file only lets type checkers and IDEs resolve ``import muxi.webhook``."""

from muxi_proto.webhook import *  # noqa: F403
from muxi_proto.webhook import __all__  # noqa: F401 - re-exported
