"""How long do ``lookalikes`` and ``collisions`` take on a hub's thousands of channels, in Python
(core/trust.py) and in the browser's port (web/src/trust.js, under node), old tree against new, side by side?

The channels are a city's in a shutdown: one per district, yard, block and street, named from the real place
names of ``web/test/lookalike_cases.json``'s "apart" list with yard and house numbers, abbreviations ("р-н",
"ул.") and filler words ("Новости", "official"), a few look-alikes among them (a letter dropped, a word added).
Each tree runs in its own process (Python: ``PYTHONPATH=<tree>/src``; node: ``<tree>/web/src/trust.js``), the
trees alternate round by round, and the table gives medians: "cold" is a process's first call (a page just
opened), "warm" the median of its later calls with the same channels (what each change of vouches or follows
costs). Each process calls ``collisions`` (40 trusted channels) then ``lookalikes`` (all), as web/src/state.js
trust() does at each change; "both" is their sum.

    .venv/bin/python bench/lookalike_speed.py --old /tmp/old-tree --new . [--sizes 1000,3000,10000] [--rounds 5]
    .venv/bin/python bench/lookalike_speed.py --check /tmp/base-tree .   # same answers? (exits 1 if not)

``--check`` compares, tree by tree, ``lookalikes``, ``collisions`` and ``names_alike`` of random pairs on
generated sets of several seeds, in both languages, and prints one digest per tree and language.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "web" / "test" / "lookalike_cases.json"
FILLERS = ["Новости", "Навіны", "news", "official", "Официальный", "канал", "info", "онлайн", "LIVE"]
KINDS = ["район", "р-н", "раён", "микрорайон", "мкр", "двор", "дом", "ул.", "вул.", "пр-т", "площадь", "чат"]


def _mutate(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, max(2, len(word) - 2))
    how = rng.choice("dacs")
    if how == "d":
        return word[:i] + word[i + 1 :]
    if how == "a":
        return word[:i] + rng.choice("аеиоу") + word[i:]
    if how == "c":
        return word[:i] + rng.choice("аеиоу") + word[i + 1 :]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def generate(n: int, seed: int, spread: int = 0) -> list[dict[str, str]]:
    """``n`` channels {address, owner, name, place, about} of a city, about 3 % of them look-alikes; with
    ``spread``, of that many places only (a flood: many names alike, the lookalikes buckets full)."""
    rng = random.Random(seed)
    places = [name for group in json.loads(CASES.read_text())["apart"] for name in group]
    places = places[:spread] if spread else places
    out: list[dict[str, str]] = []
    for k in range(n):
        owner = f"{k % (n - n // 20 or 1):064x}"  # a few owners run two channels
        if out and rng.random() < 0.03:
            base = rng.choice(out)["name"]
            words = base.split(" ")
            j = rng.randrange(len(words))
            words[j] = _mutate(words[j], rng) if len(words[j]) > 3 else words[j]
            name = " ".join(words) if rng.random() < 0.6 else f"{rng.choice(FILLERS)}: {base}"
        else:
            place = rng.choice(places)
            parts = [place, rng.choice(KINDS)]
            if rng.random() < 0.6:
                parts.append(str(rng.randrange(1, 200)))
            if rng.random() < 0.3:
                parts.append(rng.choice(places))
            rng.shuffle(parts) if rng.random() < 0.2 else None
            if rng.random() < 0.4:
                parts.insert(0, rng.choice(FILLERS) + (":" if rng.random() < 0.5 else ""))
            name = " ".join(parts)
        district = rng.choice(places)
        about = f"Канал {name}. Дежурный: +375 29 {rng.randrange(100, 999)} {k % 100:02d}" if rng.random() < 0.5 else ""
        out.append(
            {
                "address": f"30333:{owner}:{k}",
                "owner": owner,
                "name": name,
                "place": f"BY/Minsk/{district}",
                "about": about,
            }
        )
    return out


def _pairs(channels: list[dict[str, str]], seed: int, n: int = 5000) -> list[list[str]]:
    rng = random.Random(seed)
    names = [c["name"] for c in channels]
    out = []
    for _ in range(n):
        a = rng.choice(names)
        b = (
            rng.choice(names)
            if rng.random() < 0.5
            else " ".join(_mutate(w, rng) if len(w) > 3 and rng.random() < 0.5 else w for w in a.split(" "))
        )
        out.append([a, b])
    return out


PY_WORKER = r"""
import json, sys, time
from types import SimpleNamespace
from samizdat.core import trust
job = json.load(sys.stdin)
chans = [SimpleNamespace(**c) for c in job["channels"]]
trusted = chans[: job["trusted"]]
if job["mode"] == "check":
    ans = {"lookalikes": trust.lookalikes(chans), "collisions": trust.collisions(chans, trusted),
           "alike": [trust.names_alike(a, b) for a, b in job["pairs"]]}
    print(json.dumps(ans, sort_keys=True, ensure_ascii=False))
else:
    times = {"collisions": [], "lookalikes": []}  # in the order web/src/state.js trust() calls them
    for _ in range(job["reps"]):
        for what in times:
            t = time.perf_counter()
            trust.lookalikes(chans) if what == "lookalikes" else trust.collisions(chans, trusted)
            times[what].append(time.perf_counter() - t)
    print(json.dumps(times))
"""

JS_WORKER = r"""
const { lookalikes, collisions, namesAlike } = await import(process.argv[1]);
let input = '';
for await (const chunk of process.stdin) input += chunk;
const job = JSON.parse(input);
const chans = job.channels, trusted = chans.slice(0, job.trusted);
const sortKeys = (m) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
if (job.mode === 'check') {
  const alike = job.pairs.map(([a, b]) => namesAlike(a, b));
  const ans = { alike, collisions: sortKeys(collisions(chans, trusted)), lookalikes: sortKeys(lookalikes(chans)) };
  process.stdout.write(JSON.stringify(ans));
} else {
  const times = { collisions: [], lookalikes: [] }; // in the order web/src/state.js trust() calls them
  for (let r = 0; r < job.reps; r++) {
    for (const what of Object.keys(times)) {
      const t = performance.now();
      if (what === 'lookalikes') lookalikes(chans); else collisions(chans, trusted);
      times[what].push((performance.now() - t) / 1000);
    }
  }
  process.stdout.write(JSON.stringify(times));
}
"""


def _run(lang: str, tree: Path, job: dict[str, object]) -> str:
    data = json.dumps(job, ensure_ascii=False)
    if lang == "python":
        cmd = [sys.executable, "-c", PY_WORKER]
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    else:
        cmd = ["node", "--input-type=module", "-e", JS_WORKER, (tree / "web" / "src" / "trust.js").as_uri()]
        env = dict(os.environ)
    done = subprocess.run(cmd, input=data, capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode:
        raise SystemExit(f"{lang} worker in {tree} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def check(trees: list[Path], seeds: int) -> int:
    digests: dict[tuple[str, str], str] = {}
    for lang in ("python", "node"):
        for tree in trees:
            h = hashlib.sha256()
            for seed, spread in [(seed, spread) for seed in range(seeds) for spread in (0, 12)]:
                channels = generate(3000 if not spread else 1500, seed, spread)
                job = {"mode": "check", "channels": channels, "trusted": 40, "pairs": _pairs(channels, seed)}
                answer = json.loads(_run(lang, tree, job))
                h.update(json.dumps(answer, sort_keys=True, ensure_ascii=False).encode())
            digests[(lang, str(tree))] = h.hexdigest()[:16]
            print(f"{lang:6} {tree}: {digests[(lang, str(tree))]}")
    same = all(len({d for (lang, _), d in digests.items() if lang == want}) == 1 for want in ("python", "node"))
    print("same answers" if same else "ANSWERS DIFFER")
    return 0 if same else 1


def bench(old: Path, new: Path, sizes: list[int], rounds: int, reps: int) -> None:
    rows = []
    for n in sizes:
        channels = generate(n, seed=n)
        job = {"mode": "time", "channels": channels, "trusted": 40, "reps": reps}
        for lang in ("python", "node"):
            got: dict[str, dict[str, list[list[float]]]] = {"old": {}, "new": {}}
            for r in range(rounds):
                order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
                for label, tree in order:
                    for what, times in json.loads(_run(lang, tree, job)).items():
                        got[label].setdefault(what, []).append(times)
            for label in got:
                got[label]["both"] = [
                    [c + look for c, look in zip(*pair, strict=True)]
                    for pair in zip(got[label]["collisions"], got[label]["lookalikes"], strict=True)
                ]
            for what in ("collisions", "lookalikes", "both"):
                cold = {k: statistics.median(t[0] for t in got[k][what]) for k in got}
                warm = {k: statistics.median(x for t in got[k][what] for x in t[1:]) for k in got}
                rows.append((n, lang, what, cold["old"], cold["new"], warm["old"], warm["new"]))
                print(
                    f"| {n:,} | {lang} | `{what}` | {cold['old']:.3f} | {cold['new']:.3f} | "
                    f"{warm['old']:.3f} | {warm['new']:.3f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path)
    parser.add_argument("--new", type=Path, default=ROOT)
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3, help="calls per process (the first is the cold one)")
    parser.add_argument("--check", nargs="+", type=Path, metavar="TREE")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    if args.check:
        raise SystemExit(check(args.check, args.seeds))
    if not args.old:
        parser.error("--old TREE (e.g. git worktree add /tmp/old a8c41be^) or --check TREE ...")
    print("| channels | language | call | old cold s | new cold s | old warm s | new warm s |")
    print("|---|---|---|---|---|---|---|")
    bench(args.old, args.new, [int(s) for s in args.sizes.split(",")], args.rounds, args.reps)


if __name__ == "__main__":
    main()
