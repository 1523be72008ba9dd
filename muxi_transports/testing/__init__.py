"""Deprecated alias: the local MUXI server moved to :mod:`muxi_testing` (``from muxi_testing import
LocalMuxiServer``; the pytest plugin and ``python -m muxi_testing`` moved with it)."""

import warnings

from muxi_testing import *  # noqa: F403
from muxi_testing import __all__  # noqa: F401

warnings.warn(
    "muxi_transports.testing is deprecated: import from muxi_testing instead", DeprecationWarning, stacklevel=2
)
