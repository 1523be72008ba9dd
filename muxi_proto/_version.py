"""Deprecated spelling of :mod:`muxi_proto.version`, which holds the version now.

Kept only until its last importers (``muxi_proto/__init__.py``, ``muxi_proto/requests.py``,
``muxi/__init__.py``, ``muxi_transports/__init__.py``, ``muxi_transports/_client.py``) import
``muxi_proto.version``; then delete this file (tests/test_version.py lists them).
"""

from .version import __version__

__all__ = ["__version__"]
