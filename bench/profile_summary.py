"""Summarise a py-spy collapsed-stack profile (``run.py --profile`` with ``BENCH_PROFILE_FORMAT=txt``).

    python bench/profile_summary.py bench/out/profile-samizdat-fanout-....txt [--top 15]

Prints, per thread, the share of samples where it was busy versus idle (waiting in ``select``, a queue or a
lock)
and its top frames by self time; then, over all threads, the ``samizdat`` functions by inclusive time.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

IDLE = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py",
    "SimpleQueue.get",
    "wait (threading.py",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    per_thread: dict[str, Counter[str]] = defaultdict(Counter)
    inclusive: Counter[str] = Counter()
    total = 0
    with open(args.file) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(n)
            frames = stack.split(";")
            thread = frames[0].split(":", 1)[-1].strip() if frames[0].startswith("thread") else "?"
            per_thread[thread][frames[-1]] += count
            total += count
            for frame in set(frames):
                if "samizdat/" in frame:
                    inclusive[frame] += count
    for thread, leaves in sorted(per_thread.items(), key=lambda kv: -sum(kv[1].values())):
        samples = sum(leaves.values())
        idle = sum(c for leaf, c in leaves.items() if any(mark in leaf for mark in IDLE))
        print(f"\n== {thread}: {samples} samples, {idle / samples:.0%} idle")
        for leaf, c in leaves.most_common(args.top):
            print(f"  {c / samples:6.1%}  {leaf[:140]}")
    print(f"\n== samizdat functions, inclusive, share of all {total} samples")
    for frame, c in inclusive.most_common(args.top * 2):
        print(f"  {c / total:6.1%}  {frame[:140]}")


if __name__ == "__main__":
    main()
