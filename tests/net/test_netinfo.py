"""Which network we are on, from a route table (a file of /proc/net/route's format)."""

from __future__ import annotations

from pathlib import Path

from samizdat.net.netinfo import default_route, network_id, network_type

HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def table(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "route"
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


def test_the_default_route_names_the_network(tmp_path: Path) -> None:
    mobile = table(tmp_path, "wwan0\t0000A8C0\t00000000\t0001", "wwan0\t00000000\t0101A8C0\t0003")
    assert default_route(mobile) == ("wwan0", "192.168.1.1")
    assert network_type(mobile) == "mobile"
    first = network_id(mobile)
    wifi = table(tmp_path, "wlp2s0\t00000000\t0101A8C0\t0003")
    assert network_type(wifi) == "wifi"
    assert network_id(wifi) != first
    assert "192.168" not in network_id(wifi)  # a hash, never the address itself


def test_no_default_route(tmp_path: Path) -> None:
    none = table(tmp_path, "eth0\t0000A8C0\t00000000\t0001")
    assert default_route(none) is None
    assert network_id(none) == "none"
    assert network_type(none) == "unknown"
    assert network_type(tmp_path / "missing") == "unknown"
