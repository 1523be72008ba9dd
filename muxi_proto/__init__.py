"""muxi_proto: the sans-IO core of the MUXI client.

Pure Python: it builds and signs requests, decodes responses and streams, decides retries and
verifies webhooks, but never opens a socket, starts an event loop or sleeps. Clocks, randomness and
ids are injected, so every piece is deterministic under test and usable from any I/O stack.
"""

from ._version import __version__

__all__ = ["__version__"]
