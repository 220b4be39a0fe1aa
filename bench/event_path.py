"""The relay's Python work per EVENT, without sockets: CPU µs per event of the steps ``bench/ingest_profile.py``
shows on the event loop's thread, each over the same pre-signed events (``bench/dataset.py``, as the load
generator sends them), in this process, best of ``--rounds``:

* ``receive``: :meth:`RelayConnection.receive` of ``["EVENT", {...}]``: JSON, the rate limit, parsing and field
  checks, the event limits (core/admission.py), the id's SHA-256, with and without the BIP-340 check;
* ``stored``: :func:`parse_stored_json`, what a worker's follower and every REQ do with each row read back;
* ``hooks``: what the node does with each stored event (the carry kick's size, ``has_photos``).

    .venv/bin/python bench/event_path.py [--events 20000] [--rounds 5]

To compare two versions of the code, run it again with ``PYTHONPATH=<the other src>``. Prints only.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import dataset  # noqa: E402

from samizdat.core.event import Event, parse_event, parse_stored_json  # noqa: E402
from samizdat.relay.connection import RelayConnection, StoreEvent  # noqa: E402
from samizdat.relay.limits import RelayLimits  # noqa: E402
from samizdat.services.blob_travel import has_photos  # noqa: E402

T = TypeVar("T")


def best(rounds: int, count: int, work: Callable[[T], object], prepare: Callable[[], T]) -> float:
    """CPU µs per event of ``work(prepare())`` (which handles ``count`` events), the best of ``rounds``;
    ``prepare`` is not timed."""
    times = []
    for _ in range(rounds):
        given = prepare()
        gc.collect()
        t0 = time.process_time()
        work(given)
        times.append(time.process_time() - t0)
    return min(times) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lines = dataset.read_lines(dataset.ensure("ingest", 50_000), args.events)
    count, rounds = len(lines), args.rounds
    messages = [b'["EVENT",' + line + b"]" for line in lines]
    limits = RelayLimits(events_per_second=1e9, events_burst=10**9)

    def protocol(verify: bool) -> Callable[[], RelayConnection]:
        return lambda: RelayConnection(limits, clock=time.time, verify=verify)

    def receive(connection: RelayConnection) -> None:
        actions = [connection.receive(m) for m in messages]
        assert all(isinstance(a[0], StoreEvent) for a in actions), "an event was refused"

    def fresh() -> list[Event]:  # as the intake hands them on: nothing cached yet
        return [parse_event(orjson.loads(line), verify=False) for line in lines]

    def hooks(events: list[Event]) -> None:
        for event in events:
            len(event.to_json())  # the carry kick (services/upkeep.py)
            has_photos(event)

    figures = {
        "receive, all but the signature": best(rounds, count, receive, protocol(False)),
        "receive, all checks": best(rounds, count, receive, protocol(True)),
        "a stored event parsed back": best(rounds, count, lambda _: [parse_stored_json(x) for x in lines], list),
        "to_json of a parsed event": best(rounds, count, lambda events: [e.to_json() for e in events], fresh),
        "the hooks' size and photo test": best(rounds, count, hooks, lambda: [parse_stored_json(x) for x in lines]),
    }
    load = os.getloadavg()
    code = os.environ.get("PYTHONPATH") or "this tree"
    print(f"{count:,} events, best of {rounds}; code: {code}; load average {load[0]:.1f} / {load[1]:.1f}")
    for name, value in figures.items():
        print(f"  {name}: {value:.2f} µs/event")


if __name__ == "__main__":
    main()
