"""Pacing what one connection sends, for relays that allow a connection only so many messages.

Some relays count the messages a connection sends and drop it, without a word, once it has sent more than they
allow. nostr-sdk's ``LocalRelay`` gives a connection about 6,000 messages, then 100 more for each whole second
it stays silent: it refills only across a pause of a second or more, so a steady stream of even 50 messages a
second earns nothing, and an upload of 20,000 events is cut off after about 6,000 however slowly they go, unless
it pauses.

:class:`Pacer` keeps an upload inside such an allowance: the first ``burst`` messages of the connection (counted
by the client, whatever they were: ``REQ``, ``NEG-MSG``, ``EVENT``) go at once; after that, events go in chunks
of at most ``chunk``, each after ``pause`` seconds of silence. A relay with a larger allowance or none loses
little: a first upload of 20,000 events takes about four minutes instead of one. A relay that slows us down
with ``rate-limited:`` answers is handled by the upload's retries, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from samizdat.net.client import RelayClient


@dataclass(frozen=True, slots=True)
class Pacing:
    """How a connection's uploads are paced (see the module). ``chunk / pause`` is the pace after the burst."""

    burst: int = 4000  # messages of a connection sent without pausing (LocalRelay allows about 6,000)
    chunk: int = 80  # then at most this many per pause (LocalRelay earns 100 per second of silence)
    pause: float = 1.05  # seconds of silence before each chunk (LocalRelay counts whole seconds)


DEFAULT_PACING = Pacing()


class Pacer:
    """Hands out how many messages may go now on ``client``; pauses (with ``sleep``) when the burst is spent."""

    def __init__(
        self,
        client: RelayClient,
        pacing: Pacing = DEFAULT_PACING,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.pacing = pacing
        self.sleep = sleep
        self.earned = 0  # messages allowed beyond the burst by the pauses so far
        self.pauses = 0

    async def allow(self, wanted: int) -> int:
        """How many of ``wanted`` messages to send now: all that fit in what is left of the allowance, else (after
        a pause) at most a chunk. At least one, when ``wanted`` is."""
        free = self.pacing.burst + self.earned - self.client.messages_out
        if free <= 0:
            await self.sleep(self.pacing.pause)
            self.pauses += 1
            # What the connection sent beyond its allowance (requests between uploads) is forgiven by the pause:
            # a relay like LocalRelay would have dropped it already if it had not had the room.
            self.earned = self.client.messages_out - self.pacing.burst + self.pacing.chunk
            free = self.pacing.chunk
        return max(1, min(wanted, free)) if wanted > 0 else 0
