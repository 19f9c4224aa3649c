"""How much memory 100,000 in-memory ai_route sessions take.

Fills a ``MemorySessionStore`` with N sessions of a short exchange each (one
user and one assistant message, as after a first turn) and reports the
Python heap they hold, measured with ``tracemalloc``. Run:

    python bench/ai_sessions.py [--sessions 100000] [--messages 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc

from ember.ai import Message, MessageRole
from ember.ai.sessions import MemorySessionStore, new_session_id


async def fill(store: MemorySessionStore, sessions: int, messages: int) -> None:
    for n in range(sessions):
        key = new_session_id()
        await store.create(key)
        batch = [
            Message(
                MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
                f"message {i} of session {n}: a short line of chat text",
            )
            for i in range(messages)
        ]
        await store.save(key, batch, replace=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10,000 sessions, a smoke run")
    args = parser.parse_args()

    if args.quick:
        args.sessions = 10_000
    store = MemorySessionStore(max_sessions=args.sessions)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    asyncio.run(fill(store, args.sessions, args.messages))
    elapsed = time.perf_counter() - started
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(store) == args.sessions

    text_bytes = sum(
        len(f"message {i} of session {n}: a short line of chat text")
        for n in range(args.sessions)
        for i in range(args.messages)
    )
    print(f"sessions:            {args.sessions:,}")
    print(f"messages/session:    {args.messages}")
    print(f"heap used:           {used / 2**20:,.1f} MiB")
    print(f"per session:         {used / args.sessions:,.0f} bytes")
    print(f"of which text:       {text_bytes / args.sessions:,.0f} bytes")
    print(f"fill time:           {elapsed:.2f} s")


if __name__ == "__main__":
    main()
