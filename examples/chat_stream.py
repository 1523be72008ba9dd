"""A chat answer printed token by token: blocking, on asyncio, and on trio.

The same stream, three ways. ``text_deltas()`` yields the answer's text as it arrives (the
protocol's ``content`` tokens, completed by the final ``completed`` token); the stream ends at the
runtime's ``done`` event, and an ``error`` event raises a typed
:class:`~muxi_proto.errors.StreamError`. Settings come from the ``MUXI_*`` variables::

    python examples/chat_stream.py "What can you do?"            # sync, asyncio and trio
    python examples/chat_stream.py --loop trio "Hello"
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from muxi import AsyncFormationClient, FormationClient
from muxi_proto.streams import ChatAnswer
from muxi_transports import AsyncTransport

USER_ID = "example-user"


def _show(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()  # one token at a time, as it arrives


def chat_sync(message: str, *, user_id: str = USER_ID) -> str:
    """Stream one answer with the blocking client; return its final text."""
    answer = ChatAnswer()  # keeps the final text (and ui widgets, if any) while deltas are shown
    with FormationClient() as formation, formation.chat_stream({"message": message}, user_id=user_id) as stream:
        for delta in stream.text_deltas(answer):
            _show(delta)
    _show("\n")
    return answer.text


async def chat_async(message: str, *, user_id: str = USER_ID, transport: AsyncTransport | None = None) -> str:
    """Stream one answer with the async client (asyncio or trio); return its final text.

    ``transport=None`` uses httpcore, which runs on both loops; pass ``TrioTransport()`` or
    ``AnyIOTransport()`` to choose another.
    """
    answer = ChatAnswer()
    async with AsyncFormationClient(transport=transport) as formation:
        stream = await formation.chat_stream({"message": message}, user_id=user_id)
        async with stream:
            async for delta in stream.text_deltas(answer):
                _show(delta)
    _show("\n")
    return answer.text


def chat_trio(message: str, *, user_id: str = USER_ID) -> str:
    """Run :func:`chat_async` under trio with the native trio transport."""
    import trio  # the `trio` extra: pip install 'muxi-client[trio]'

    from muxi_transports.trio_transport import TrioTransport

    async def run() -> str:
        async with TrioTransport() as transport:
            return await chat_async(message, user_id=user_id, transport=transport)

    return trio.run(run)


def main(argv: Sequence[str] | None = None) -> None:
    """Stream one message on each chosen loop."""
    parser = argparse.ArgumentParser(description="Stream a chat answer token by token.")
    parser.add_argument("message", nargs="?", default="Hello! What can you do?")
    parser.add_argument("--loop", choices=["sync", "asyncio", "trio", "all"], default="all")
    args = parser.parse_args(argv)
    if args.loop in ("sync", "all"):
        _show("sync:    ")
        chat_sync(args.message)
    if args.loop in ("asyncio", "all"):
        _show("asyncio: ")
        asyncio.run(chat_async(args.message))
    if args.loop in ("trio", "all"):
        _show("trio:    ")
        chat_trio(args.message)


if __name__ == "__main__":
    main()
