"""How fast a serve reacts to its kill cord and to waking from sleep (services/killcord.py).

For each round: a fresh encrypted node (test key derivation), ``samizdat serve --port 0 --kill-cord CORD``
started and ready, then the cord pulled: a loop device detached with ``losetup -d`` (as root) or a file deleted.
Measured from the moment the pull returned, polling every millisecond:

* lock: until the serve process has exited (its memory, keys included, is gone);
* wipe: until the key slot file no longer holds its bytes (the data can never be read again), and until exit;
* sleep: until exit after the test hook said the machine slept (SAMIZDAT_SLEEP_TEST_FILE).

Prints a Markdown table for docs/benchmarks.md ("Kill cord"). Never run as a test.

    .venv/bin/python bench/killcord.py --rounds 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from samizdat.testing import passphrase_env

STEP = 0.001


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMIZDAT_")}
    env.update(passphrase_env())
    env.update(extra or {})
    return env


def samizdat(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "samizdat", "--home", str(home), *args]


@contextlib.contextmanager
def cord(kind: str, where: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    if kind == "file":
        path = where / "cord"
        path.touch()
        yield str(path), path.unlink
        return
    image = where / "cord.img"
    with image.open("wb") as file:
        file.truncate(1 << 20)
    device = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    try:
        yield device, lambda: subprocess.run(["losetup", "-d", device], check=True)
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


def wait_ready(home: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            info = json.loads((home / "serve.json").read_text())
            if info["pid"] == process.pid:
                with socket.create_connection(("127.0.0.1", int(info["port"])), timeout=1.0):
                    return
        time.sleep(0.05)
    raise SystemExit("serve did not start")


def one_round(kind: str, action: str, workers: int) -> dict[str, float]:
    """Seconds from the pull to the slots' erasure (wipe) and to the process's exit."""
    with tempfile.TemporaryDirectory() as scratch:
        where = Path(scratch)
        home = where / "home"
        subprocess.run(samizdat(home, "init"), env=environment(), check=True, capture_output=True)
        shift = where / "slept"
        if action == "wipe":
            with (home / "config.toml").open("a") as config:
                config.write('\n[safety]\nkill_cord_action = "wipe"\n')
        with cord(kind if action != "sleep" else "file", where) as (path, pull):
            args = ["serve", "--port", "0", "--kill-cord", path]
            if workers > 1:
                args += ["--workers", str(workers)]
            log = (where / "serve.log").open("wb")
            env = environment({"SAMIZDAT_SLEEP_TEST_FILE": str(shift)})
            process = subprocess.Popen(samizdat(home, *args), env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_ready(home, process)
                time.sleep(0.5)  # let it settle: the figure is the reaction, not the start
                slots = (home / "keys.slots").read_bytes()
                if action == "sleep":
                    shift.write_text("600")
                else:
                    pull()
                start = time.monotonic()
                erased = None
                deadline = start + 60.0
                while process.poll() is None and time.monotonic() < deadline:
                    if action == "wipe" and erased is None:
                        with contextlib.suppress(OSError):
                            if (home / "keys.slots").read_bytes() != slots:
                                erased = time.monotonic() - start
                    time.sleep(STEP)
                exited = time.monotonic() - start
                if process.poll() is None:
                    raise SystemExit("serve did not stop within 60 s")
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
                log.close()
        result = {"exit": exited}
        if action == "wipe":
            result["erased"] = exited if erased is None else erased
        return result


def summary(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} / {max(values) * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    kinds = ["file"] + (["loop"] if os.geteuid() == 0 and shutil.which("losetup") else [])
    cases = [(kind, "lock", 1) for kind in kinds] + [(kinds[-1], "wipe", 1), (kinds[-1], "lock", 2),
                                                     ("file", "sleep", 1)]  # fmt: skip
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Linux {platform.release()}, {time.strftime('%Y-%m-%d')}; {options.rounds} rounds each")  # fmt: skip
    print("| trigger | cord | workers | slots erased, ms (median / max) | process gone, ms (median / max) |")
    print("|---|---|---|---|---|")
    for kind, action, workers in cases:
        rounds = [one_round(kind, action, workers) for _ in range(options.rounds)]
        erased = summary([r["erased"] for r in rounds]) if action == "wipe" else "-"
        trigger = {"lock": "cord pulled, lock", "wipe": "cord pulled, wipe", "sleep": "woke from sleep"}[action]
        cord_kind = "-" if action == "sleep" else {"file": "file deleted", "loop": "loop device detached"}[kind]
        print(f"| {trigger} | {cord_kind} | {workers} | {erased} | {summary([r['exit'] for r in rounds])} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
