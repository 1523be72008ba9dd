"""Run one call with the official ``muxi`` SDK (in ``benchmarks/.venv-official``), for tests comparing it.

    python official_client.py '{"flavour": "sync" | "async", "url": ..., "key_id": ..., "secret_key": ...}'

Calls ``ServerClient.health()`` (or ``AsyncServerClient``'s) with the environment as given, and
prints one JSON line: ``{"value": ...}`` or ``{"error": "<exception class>"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys


def main() -> None:
    import muxi  # the official SDK: only importable in its own virtual environment

    args = json.loads(sys.argv[1])
    settings = {"url": args["url"], "key_id": args["key_id"], "secret_key": args["secret_key"]}
    try:
        if args["flavour"] == "sync":
            value = muxi.ServerClient(**settings).health()
        else:
            async def call() -> object:
                return await muxi.AsyncServerClient(**settings).health()

            value = asyncio.run(call())
    except Exception as exc:  # reported to the test, which asserts on it
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)[:300]}))
        return
    print(json.dumps({"value": value}, default=str))


if __name__ == "__main__":
    main()
