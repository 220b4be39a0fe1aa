"""How long must a word be before "one letter away" says "a look-alike" and not "another place"? Prints, for each
minimum length, the pairs of real names of *different* places (Belarus's towns, Minsk's districts, metro stations
and neighbourhoods, common channel words; in Russian and Belarusian) that one letter dropped, added, changed or
two neighbours swapped turns into each other, with and without the rule that the last two letters (the ending:
"Фрунзенский" district, "Фрунзенская" metro station) are the same. The chosen rule is
``samizdat.core.trust.MIN_NEAR`` and ``_near``; the real names are ``web/test/lookalike_cases.json``'s "apart".

    .venv/bin/python bench/lookalike_near.py
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

from samizdat.core import trust

CASES = Path(__file__).resolve().parents[1] / "web" / "test" / "lookalike_cases.json"


def one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance exactly 1 (adjacent swaps count once)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    a, b = sorted((a, b), key=len)
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) != len(b):
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1])


def main() -> None:
    groups = json.loads(CASES.read_text())["apart"]
    names = [(g, name) for g, group in enumerate(groups) for name in group]
    words = {name: trust.name_words(name) for _, name in names}
    found: dict[str, list[tuple[int, str, str]]] = {"any": [], "same ending": []}
    for (ga, a), (gb, b) in itertools.combinations(names, 2):
        if ga == gb:
            continue
        shortest = {"any": 0, "same ending": 0}
        for (core_a, fill_a), (core_b, fill_b) in zip(words[a], words[b], strict=True):
            if not core_a or len(core_a) != len(core_b) or (len(core_a) == 1 and fill_a != fill_b):
                continue  # as trust._alike: a one-word name with other fillers is never alike
            only_a = list((Counter(core_a) - Counter(core_b)).elements())
            only_b = list((Counter(core_b) - Counter(core_a)).elements())
            if len(only_a) != 1 or any(ch.isdigit() for ch in only_a[0] + only_b[0]):
                continue
            wa, wb = only_a[0], only_b[0]
            n = min(len(wa), len(wb))
            if one_edit(wa, wb):
                shortest["any"] = max(shortest["any"], n)
            if wa[-2:] == wb[-2:] and one_edit(wa[:-2], wb[:-2]):
                shortest["same ending"] = max(shortest["same ending"], n)
        for rule, n in shortest.items():
            if n:
                found[rule].append((n, a, b))
    print(f"{len(groups)} places, {len(names)} names, {len(names) * (len(names) - 1) // 2} pairs")
    for rule, pairs in found.items():
        print(f"\none letter away, {rule}: pairs of different places marked at each minimum word length")
        for minimum in range(3, 11):
            marked = sorted(p for p in pairs if p[0] >= minimum)
            shown = "; ".join(f"{a} / {b}" for _, a, b in marked[:6])
            print(f"  {minimum:2d} letters: {len(marked):4d}  {shown}{' ...' if len(marked) > 6 else ''}")
    alike = [(a, b) for (ga, a), (gb, b) in itertools.combinations(names, 2) if ga != gb and trust.names_alike(a, b)]
    print(f"\ntrust.names_alike (MIN_NEAR = {trust.MIN_NEAR}, fillers, abbreviations): {len(alike)} pairs {alike[:6]}")


if __name__ == "__main__":
    main()
