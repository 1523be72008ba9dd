"""Test helpers: local servers on 127.0.0.1 for exercising transports and clients."""

from .httpserver import Handler, HTTPTestServer, ResponseWriter, ServerRequest

__all__ = ["HTTPTestServer", "Handler", "ResponseWriter", "ServerRequest"]
