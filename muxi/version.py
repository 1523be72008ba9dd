"""``muxi.version``: the SDK version."""

from muxi_proto._version import __version__

__all__ = ["__version__"]
