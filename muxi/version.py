"""``muxi.version``: the SDK version (the official SDK's import path)."""

from muxi_proto.version import __version__

__all__ = ["__version__"]
