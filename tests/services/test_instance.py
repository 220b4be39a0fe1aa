"""One ``serve`` per data directory: a second is refused at once, and a lock never outlives its process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from samizdat.errors import UsageError
from samizdat.services import instance


def test_a_second_serve_is_refused_and_the_lock_goes_with_the_holder(tmp_path: Path) -> None:
    with instance.serve_lock(tmp_path):
        instance.announce(tmp_path, "0.0.0.0", 4999)
        assert instance.running_relay_url(tmp_path) == "ws://127.0.0.1:4999"
        with pytest.raises(UsageError, match="another `samizdat serve` is running on .* at 0.0.0.0:4999"):
            with instance.serve_lock(tmp_path):
                pass
    assert instance.running_relay_url(tmp_path) is None  # serve.json left behind, but nobody holds the lock
    with instance.serve_lock(tmp_path):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from samizdat.services import instance\n"
        "with instance.serve_lock(Path(sys.argv[1])):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "locked"
            with pytest.raises(UsageError), instance.serve_lock(tmp_path):
                pass
        finally:
            holder.kill()  # kill -9: no clean-up code runs
            holder.wait(10)
    with instance.serve_lock(tmp_path):
        assert os.path.exists(tmp_path / instance.LOCK_FILE)
