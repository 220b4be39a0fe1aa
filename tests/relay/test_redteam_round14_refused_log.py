"""Red team, round 14: a page of another site that the machine's browser opened, and that probed the node, was
named in a WARNING ("a browser on this machine, a page of 'https://...'"), the level a seized laptop's journal
keeps: the sites its user visited, in the node's log. Now the warning says what happened and where the setting
is, once, and ``-v`` (INFO) names each site."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_hostile_clients import _http, running_relay

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayInfo


async def test_the_sites_a_browser_on_this_machine_visited_stay_out_of_the_default_log(
    tmp_path: Path, key: SecretKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sites = ["https://news-of-the-opposition.example", "https://lawyer-for-protesters.example"]
    async with running_relay(tmp_path / "hub", info=RelayInfo(name="hub", pubkey=key.public_key_hex)) as relay:
        port = relay.server.port
        for site in sites:
            assert await _http(port, "/", f"Host: 127.0.0.1:{port}", f"Origin: {site}") == b""  # refused, unanswered
        assert await _http(port, "/", "Host: rebound-site.example", "User-Agent: Mozilla/5.0") == b""
    kept = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    verbose = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    refusals = [line for line in kept if "refused without an answer" in line]
    assert len(refusals) == 1, kept  # said once, with where the setting is
    assert "host_names" in refusals[0]
    assert "-v" in refusals[0]
    for name in [*sites, "rebound-site.example"]:
        assert not any(name in line for line in kept), kept
        assert any(name in line for line in verbose), verbose  # the operator who needs it runs with -v
