"""The official ``muxi`` SDK's import paths, served by muxi-client."""

from muxi_proto._version import __version__

__all__ = ["__version__"]
