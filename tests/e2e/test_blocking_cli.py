"""The blocking commands as a person meets them on loopback: options, their mistakes, and what they print."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from samizdat.testing import free_port

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess


def test_transport_mistakes_are_one_sentence(cli: Cli) -> None:
    cli.ok("init")
    assert "not a transport" in cli.fails("--via", "carrier-pigeon", "sync", "ws://127.0.0.1:1").err
    assert "not a transport" in cli.fails("--proxy", "ftp://x:1", "status").err
    (cli.home / "config.toml").write_text('[sync]\nfallback = "tor"\n')
    assert "sync.fallback must be a list" in cli.fails("status").err
    (cli.home / "config.toml").write_text('[relays."wss://r.example"]\nvia = ["smoke"]\n')
    assert "not a transport" in cli.fails("status").err
    (cli.home / "config.toml").write_text("")
    assert "control resolver" in cli.fails("netcheck", "ws://127.0.0.1:1", "--control-dns", "1.1.1.1").err
    assert "country code" in cli.fails("netcheck", "ws://127.0.0.1:1", "--country", "Belarus").err
    assert "not a ws:// or wss://" in cli.fails("netcheck", "https://relay.example").err


def test_an_onion_relay_is_never_reached_directly(cli: Cli) -> None:
    cli.ok("init")
    port = free_port()  # no Tor listens here
    failed = cli.fails("--proxy", "", "sync", "ws://expyuzz4wqqyqhjn.onion", timeout=60)
    assert "onion" in failed.err or "tor" in failed.err.lower()
    (cli.home / "config.toml").write_text(f'[transports]\ntor = "socks5h://127.0.0.1:{port}"\n')
    failed = cli.fails("sync", "ws://expyuzz4wqqyqhjn.onion", timeout=60)
    assert f"127.0.0.1:{port}" in failed.err
    assert "Is Tor running?" in failed.err


def test_netcheck_and_routes_on_a_working_relay(
    cli: Cli, serve: Callable[..., ServeProcess], make_cli: Callable[[str], Cli], wait_until: Callable[..., Any]
) -> None:
    relay_cli = make_cli("relay")
    relay_cli.ok("init")
    relay = serve(relay_cli.home)
    cli.ok("init")
    dead = f"ws://127.0.0.1:{free_port()}"
    data = cli.json("netcheck", relay.url, dead, "--control-dns", f"tcp://127.0.0.1:{free_port()}")
    classes = {r["url"]: r["class"] for r in data["results"]}
    assert classes == {relay.url: "ok", dead: "tcp.reset"}
    assert data["reported"] == 0  # reports are opt-in
    assert "No routes tried yet." in cli.ok("routes").out
    cli.ok("sync", relay.url)
    [route] = cli.json("routes")
    assert (route["relay"], route["transport"], route["failures"]) == (relay.url, "direct", 0)
    assert "No reachability reports yet." in cli.ok("reachability").out
