"""What ``channels.vouches()`` costs a node that follows many verifiers, now that each verifier's vouches are read
apart (``channels.per_key``: a filter per verifier, so that one verifier's flood pushes out only its own).

    .venv/bin/python bench/vouch_reads.py                          # this tree
    PYTHONPATH=<a git archive of another tree>/src .venv/bin/python bench/vouch_reads.py

Prints only; the figures are copied into docs/benchmarks.md ("Vouches read per verifier").
"""

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_vouch
from samizdat.services import channels
from samizdat.testing import test_node


async def main(n_verifiers: int, per: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        async with test_node(Path(d) / "n") as node:
            ctx = node.ctx
            now = int(time.time())
            chans = [
                parse_channel(build_channel_event(SecretKey.generate(), f"c{i}", f"C {i}", created_at=now - 1000))
                for i in range(per)
            ]
            evs = [c.event for c in chans]
            for _ in range(n_verifiers):
                v = SecretKey.generate()
                ctx.local.follow_verifier(v.public_key_hex, now)
                evs += [build_vouch(v, c, "met", created_at=now - 500) for c in chans]
            await ctx.store.add_many(evs)
            times = []
            for _ in range(ROUNDS):
                t = time.perf_counter()
                got = await channels.vouches(ctx)
                times.append(time.perf_counter() - t)
            median = statistics.median(times[1:]) * 1000  # the first warms the caches
            print(f"{n_verifiers} verifiers x {per} vouches each: vouches() {median:.1f} ms, {len(got)} channels")


ROUNDS = 11

if __name__ == "__main__":
    for n, per in ((1, 50), (40, 50), (200, 10)):
        asyncio.run(main(n, per))
