"""What is taken from an mDNS announcement and which announcements are kept: anyone on a LAN can announce
anything (a bot on the Wi-Fi announcing thousands of services, loopback or this node's own address, a huge name,
bidirectional overrides, flapping), so values are checked and everything kept is bounded."""

from __future__ import annotations

import unicodedata
from ipaddress import IPv4Address, IPv4Interface

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat.mesh.announcements import (
    FAILING_FOR,
    ID_LIMIT,
    MAX_ADDRESSES,
    MAX_ANNOUNCED,
    MAX_PER_ADDRESS,
    NAME_LIMIT,
    Addresses,
    Roster,
    Sighting,
    clean_name,
    parse_service,
    parse_sightings,
    usable_address,
)

LAN = [IPv4Interface("127.0.0.1/8"), IPv4Interface("10.42.0.1/24")]  # loopback and a hub's Wi-Fi
CABLE = [*LAN, IPv4Interface("169.254.10.20/16")]  # ...and a cable to a laptop, addressed link-local
BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]}


def parse(properties: dict[bytes, bytes | None], addresses: list[str], port: int | None = 4848) -> Sighting | None:
    return parse_service(properties, addresses, port, networks=LAN)


def test_a_well_formed_announcement_gives_a_ws_url() -> None:
    sighting = parse({b"id": b"ab12cd34", b"hub": b"1", b"name": b"Block 7"}, ["10.42.0.7"])
    assert sighting == Sighting("ab12cd34", "ws://10.42.0.7:4848", "Block 7", True)


@pytest.mark.parametrize(
    ("properties", "addresses", "port"),
    [
        ({}, ["10.42.0.7"], 4848),  # no instance id
        ({b"id": b"x y"}, ["10.42.0.7"], 4848),  # not alphanumeric
        ({b"id": "ид".encode()}, ["10.42.0.7"], 4848),  # alphanumeric, but not ASCII
        ({b"id": b"a" * (ID_LIMIT + 1)}, ["10.42.0.7"], 4848),  # too long (not cut: two ids must not become one)
        ({b"id": None}, ["10.42.0.7"], 4848),
        ({b"id": b"ab"}, [], 4848),  # no address
        ({b"id": b"ab"}, ["10.42.0.7"], 0),  # no port
        ({b"id": b"ab"}, ["10.42.0.7"], None),
        ({b"id": b"ab"}, ["10.42.0.7"], 65536),
        ({b"id": b"ab"}, ["not-an-ip"], 4848),
        ({b"id": b"ab"}, ["fe80::1"], 4848),  # IPv4 only
    ],
)
def test_unusable_announcements_are_ignored(
    properties: dict[bytes, bytes | None], addresses: list[str], port: int | None
) -> None:
    assert parse(properties, addresses, port) is None


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.8.8", "loopback"),
        ("10.42.0.1", "this machine's own address"),
        ("10.42.0.0", "the network's address"),
        ("10.42.0.255", "the network's broadcast address"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.251", "multicast (mDNS itself)"),
        ("0.0.0.0", "unspecified"),
        ("169.254.169.254", "link-local (a cloud's metadata service) while we are on no link-local network"),
        ("10.43.0.7", "not on a network of ours (behind a router)"),
        ("8.8.8.8", "the internet"),
    ],
)
def test_an_announcement_never_points_the_node_at_itself_or_beyond_the_lan(address: str, why: str) -> None:
    assert usable_address(address, LAN) is None, why
    assert parse({b"id": b"ab"}, [address]) is None, why


def test_link_local_addresses_only_on_a_link_local_network_of_ours() -> None:
    assert usable_address("169.254.10.21", CABLE) == IPv4Address("169.254.10.21")
    assert usable_address("169.254.10.20", CABLE) is None  # ours
    assert usable_address("169.254.10.21", LAN) is None
    wide = [IPv4Interface("128.0.0.1/1"), IPv4Interface("0.0.0.1/1")]  # a network that contains everything
    assert usable_address("169.254.10.21", wide) is None
    assert usable_address("127.0.0.1", wide) is None


def test_the_first_usable_of_several_addresses_is_taken() -> None:
    sighting = parse({b"id": b"ab"}, ["127.0.0.1", "10.42.0.1", "192.168.5.5", "10.42.0.9", "10.42.0.8"])
    assert sighting is not None
    assert sighting.url == "ws://10.42.0.9:4848"


def test_only_the_first_addresses_of_a_long_list_are_looked_at() -> None:
    noise = [f"192.168.{i // 250}.{i % 250 + 1}" for i in range(MAX_ADDRESSES)]
    assert parse({b"id": b"ab"}, [*noise, "10.42.0.9"]) is None
    assert parse({b"id": b"ab"}, [*noise[1:], "10.42.0.9"]) is not None
    assert parse({b"id": b"ab"}, ["10.42.0.9"] * 100_000) is not None


def test_hostile_names_are_cut_and_made_printable() -> None:
    sighting = parse({b"id": b"ab", b"name": b"\x1b[31mevil\x00" + b"x" * 200_000}, ["10.42.0.7"])
    assert sighting is not None
    assert sighting.name.startswith("[31mevil")
    assert len(sighting.name) == NAME_LIMIT
    assert not sighting.hub


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"Block 7 hub", "Block 7 hub"),
        ("Хаб двара 7".encode(), "Хаб двара 7"),
        ("\u202eduh 7 kcolB".encode(), "duh 7 kcolB"),  # a right-to-left override cannot reorder what follows
        ("Block\u2066 7\u2069 \u200fhub".encode(), "Block 7 hub"),
        ("  Block\t\n7\u2028\u00a0 hub  ".encode(), "Block 7 hub"),
        (b"Block \xff\xfe 7", "Block \ufffd\ufffd 7"),  # not UTF-8: shown as such, not dropped silently
        (("e" + "\u0301" * 500).encode(), "\u00e9\u0301\u0301"),  # a "Zalgo" smear is cut to two marks
        ("Blo\u200bck".encode(), "Block"),  # zero-width space
        (b"", ""),
    ],
)
def test_names_are_shown_without_tricks(raw: bytes, shown: str) -> None:
    assert clean_name(raw) == shown


# -- property tests: hostile TXT values, huge names, non-UTF-8, many addresses ---------------------------------------

huge = st.builds(lambda chunk, times: chunk * times, st.binary(min_size=1, max_size=8), st.integers(1, 30_000))
values = st.one_of(st.none(), st.binary(max_size=300), huge, st.sampled_from([b"1", b"0", b"ab12", "Хаб".encode()]))
keys = st.one_of(st.sampled_from([b"id", b"name", b"hub", b"v"]), st.binary(max_size=12))
addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.integers(0, 255).map(lambda i: f"10.42.0.{i}"),
    st.integers(0, 65535).map(lambda i: f"169.254.{i // 256}.{i % 256}"),
    st.sampled_from(["127.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "fe80::1", "010.42.0.7", " 10.42.0.7"]),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(
    properties=st.dictionaries(keys, values, max_size=8),
    addresses=st.lists(addresses, max_size=40),
    port=st.one_of(st.none(), st.integers(-5, 70_000)),
    networks=st.sampled_from([LAN, CABLE, LAN[:1], []]),
)
def test_parsing_any_announcement_never_fails_and_never_yields_a_forbidden_target(
    properties: dict[bytes, bytes | None], addresses: list[str], port: int | None, networks: list[IPv4Interface]
) -> None:
    sighting = parse_service(properties, addresses, port, networks=networks)
    if sighting is None:
        return
    raw_id = properties[b"id"]
    assert raw_id is not None
    assert sighting.instance == raw_id.decode()
    assert sighting.instance.isascii()
    assert sighting.instance.isalnum()
    assert 0 < len(sighting.instance) <= ID_LIMIT
    host, _, port_text = sighting.url.removeprefix("ws://").rpartition(":")
    assert port_text == str(port)
    target = IPv4Address(host)
    assert host in addresses[:MAX_ADDRESSES]
    assert not target.is_loopback
    assert not target.is_multicast
    assert not target.is_unspecified
    assert all(target != i.ip for i in networks)
    home = [i for i in networks if target in i.network and not i.ip.is_loopback]
    assert home, "an announcement only ever points at a network we are on"
    assert not target.is_link_local or any(i.ip.is_link_local for i in home)
    assert sighting.hub == (properties.get(b"hub") == b"1")
    _assert_showable(sighting.name)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(max_size=400), st.text(max_size=200).map(str.encode), huge))
def test_any_name_comes_out_short_and_printable(raw: bytes) -> None:
    _assert_showable(clean_name(raw))


def _assert_showable(name: str) -> None:
    assert len(name) <= NAME_LIMIT
    assert name == name.strip()
    assert "  " not in name
    assert all(ch == " " or ch.isprintable() for ch in name)
    assert not BIDI & set(name)
    run = 0
    for ch in name:
        run = run + 1 if unicodedata.category(ch) in ("Mn", "Me") else 0
        assert run <= 2


# -- the roster: which announcements are kept -----------------------------------------------------------------------


def sighting(n: int, url: str | None = None) -> Sighting:
    return Sighting(f"id{n}", url or f"ws://10.42.0.{n % 250 + 2}:4848", "", False)


def keep(roster: Roster, n: int, now: float) -> Sighting | None:
    """Announce service n and resolve it, as the discovery does."""
    name = f"s{n}"
    if not roster.wanted(name, now):
        return None
    found, lost = roster.resolved(name, sighting(n), now)
    assert lost == []
    return found


def test_the_first_come_are_kept_up_to_the_bound_and_a_newcomer_waits_for_room() -> None:
    roster = Roster(max_kept=3)
    assert [keep(roster, n, 0.0) is not None for n in range(5)] == [True, True, True, False, False]
    assert set(roster.kept) == {"s0", "s1", "s2"}
    roster.heard("s4", 1.0)  # still announcing
    assert roster.removed("s1") == "id1"  # goodbye
    tick = roster.tick(2.0)
    assert tick.ask, "room freed: ask who is there"
    assert tick.resolve == ["s3"], "the one waiting longest, and only as many as there is room for"
    roster.resolved("s3", sighting(3), 2.0)
    assert len(roster.kept) == 3
    assert roster.tick(3.0).resolve == []  # full again


def test_a_kept_service_that_goes_silent_is_asked_for_then_forgotten() -> None:
    roster = Roster(stale_after=20, ask_every=10, forget_after=60)
    keep(roster, 1, 0.0)
    keep(roster, 2, 0.0)
    assert roster.tick(10.0).ask is False
    asks = [t for t in range(21, 61) if roster.tick(float(t)).ask]
    assert asks == [21, 31, 41, 51], "asked again while silent, but not more often than every 10 s"
    roster.heard("s2", 59.0)  # s2 answered
    tick = roster.tick(61.0)
    assert tick.lost == ["id1"]
    assert set(roster.kept) == {"s2"}
    assert roster.tick(200.0).lost == ["id2"]


def test_a_service_heard_again_is_not_forgotten() -> None:
    roster = Roster(forget_after=60)
    keep(roster, 1, 0.0)
    for t in range(0, 600, 30):
        roster.heard("s1", float(t))
        assert roster.tick(float(t) + 1).lost == []
    assert "s1" in roster.kept


def test_flapping_costs_a_bounded_number_of_resolves() -> None:
    roster = Roster(resolve_rate=2.0, resolve_burst=10)
    resolves = 0
    for i in range(10_000):  # one name announced and withdrawn 10,000 times in 10 s
        now = i / 1000
        if roster.wanted("flap", now):
            resolves += 1
            roster.resolved("flap", sighting(1), now)
        roster.removed("flap")
    assert resolves <= 10 + 2 * 10 + 1


def test_ten_thousand_services_leave_bounded_state() -> None:
    roster = Roster()

    def resolve(name: str, now: float) -> None:
        n = int(name[1:])
        roster.resolved(name, sighting(n, f"ws://10.42.{n // 250}.{n % 250 + 1}:4848"), now)

    for n in range(10_000):  # a bot announcing 10,000 services in 100 s, all of them answering
        now = n / 100
        for name in [f"s{n}", *roster.kept]:
            roster.heard(name, now)
        if roster.wanted(f"s{n}", now):
            resolve(f"s{n}", now)
        for name in roster.tick(now).resolve:
            resolve(name, now)
    assert len(roster.kept) == roster.max_kept
    assert set(roster.kept) == {f"s{n}" for n in range(roster.max_kept)}, "the first come stay"
    assert len(roster._candidates) <= roster.max_candidates
    assert len(roster._held) <= roster.max_held


def test_an_unusable_announcement_is_not_looked_at_again_for_a_while() -> None:
    roster = Roster(hold=30)
    assert roster.wanted("bad", 0.0)
    assert roster.resolved("bad", None, 0.0) == (None, [])
    assert not roster.wanted("bad", 1.0)
    roster.heard("bad", 2.0)
    assert roster.tick(3.0).resolve == []
    assert roster.wanted("bad", 31.0)
    roster.unresolved("bad", 31.0)  # no answer: also held
    assert not roster.wanted("bad", 32.0)


def test_a_kept_service_that_turns_unusable_is_lost() -> None:
    roster = Roster()
    keep(roster, 1, 0.0)
    assert roster.wanted("s1", 1.0)  # its records changed
    assert roster.resolved("s1", None, 1.0) == (None, ["id1"])  # e.g. it now points at 127.0.0.1
    assert roster.kept == {}


def test_an_instance_id_claimed_by_a_second_service_adds_to_it_and_is_lost_with_the_last() -> None:
    """A device repeating a neighbour's instance id from its own address, before the node heard the real service
    or after: both are kept (the first to claim an id used to keep it, hiding the real node), and the device's
    copy going away does not take the neighbour with it."""
    roster = Roster(doubt_for=4)
    copy = Sighting("id1", "ws://10.42.0.66:4848", "", False)
    assert roster.wanted("copycat", 0.0)
    assert roster.resolved("copycat", copy, 0.0) == (copy, [])
    assert keep(roster, 1, 0.5) == sighting(1), "the real service is kept after the device's copy"
    roster.goodbye("copycat", 1.0)  # the device withdraws its copy and answers nothing more
    assert roster.tick(6.0).lost == [], "the real service still names id1"
    assert set(roster.kept) == {"s1"}
    assert roster.removed("s1") == "id1"


def test_a_service_that_changes_its_instance_id_loses_the_old_one() -> None:
    roster = Roster()
    keep(roster, 1, 0.0)
    assert roster.wanted("s1", 1.0)
    found, lost = roster.resolved("s1", sighting(7), 1.0)
    assert found == sighting(7)
    assert lost == ["id1"]


def test_after_a_network_change_every_kept_service_is_checked_again() -> None:
    roster = Roster()
    keep(roster, 1, 0.0)
    keep(roster, 2, 0.0)
    roster.recheck(1.0)
    assert sorted(roster.tick(1.5).resolve) == ["s1", "s2"]


def test_resolves_at_once_are_bounded() -> None:
    roster = Roster(max_resolving=3)
    assert [roster.wanted(f"s{n}", 0.0) for n in range(5)] == [True, True, True, False, False]
    roster.unresolved("s0", 1.0)
    assert roster.tick(1.0).resolve == ["s3"]


ops = st.lists(
    st.tuples(
        st.sampled_from(["heard", "wanted", "removed", "tick"]),
        st.integers(0, 30),  # which service
        st.floats(0, 5),  # time passing
        st.booleans(),  # whether resolving gives a usable sighting
        st.integers(0, 5),  # which instance id it claims
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(ops=ops)
def test_whatever_is_announced_the_roster_stays_within_its_bounds(
    ops: list[tuple[str, int, float, bool, int]],
) -> None:
    roster = Roster(max_kept=4, max_resolving=2, max_candidates=5, max_held=6, resolve_burst=3, resolve_rate=1)
    now = 0.0
    started = 0
    alive: set[str] = set()  # instance ids reported found and not lost since
    for op, n, dt, usable, claim in ops:
        now += dt
        name = f"s{n}"
        if op == "heard":
            roster.heard(name, now)
        elif op == "removed":
            alive.discard(roster.removed(name) or "")
        elif op == "wanted" and roster.wanted(name, now):
            started += 1
            found, lost = roster.resolved(
                name, Sighting(f"i{claim}", f"ws://10.42.0.{n + 2}:1", "", False) if usable else None, now
            )
            alive -= set(lost)
            alive |= {found.instance} if found is not None else set()
        elif op == "tick":
            tick = roster.tick(now)
            alive -= set(tick.lost)
            for name in tick.resolve:
                started += 1
                roster.unresolved(name, now)
        assert len(roster.kept) <= 4
        assert len(roster.resolving) <= 2
        assert len(roster._candidates) <= 5
        assert len(roster._held) <= 6
        assert {s.instance for s in roster.kept.values()} == alive, "found and lost as the caller saw them"
        assert started <= 3 + now * 1 + 1e-9


# -- which addresses of an announced node are linked ----------------------------------------------------------------


def test_every_usable_address_of_a_service_gives_a_sighting() -> None:
    found = parse_sightings({b"id": b"n1"}, ["10.42.0.7", "127.0.0.1", "10.42.0.66", "10.42.0.7"], 4848, networks=LAN)
    assert [s.url for s in found] == ["ws://10.42.0.7:4848", "ws://10.42.0.66:4848"]
    assert {s.instance for s in found} == {"n1"}
    assert parse_sightings({b"id": b"n1"}, ["127.0.0.1"], 4848, networks=LAN) == []


REAL = Sighting("n1", "ws://10.42.0.7:4848", "", False)


def claimed(n: int, instance: str = "n1") -> Sighting:
    """An address a device claims in node ``instance``'s name."""
    return Sighting(instance, f"ws://10.42.0.{100 + n}:4848", "", False)


def urls(addresses: Addresses) -> list[str]:
    return [s.url for s in addresses.sightings()]


def test_a_claimed_address_is_linked_as_well_never_instead() -> None:
    addresses = Addresses()
    assert addresses.add(REAL) == (True, [])
    assert addresses.add(claimed(1)) == (True, []), "a device can add itself"
    assert addresses.add(REAL) == (True, []), "the real one answering again changes nothing"
    assert urls(addresses) == [REAL.url, claimed(1).url]
    assert addresses.first("n1") == REAL.url


def test_a_device_claiming_address_after_address_never_pushes_out_the_first_or_a_working_one() -> None:
    addresses = Addresses(per_peer=4)
    addresses.add(REAL)
    addresses.add(claimed(0))  # an address that answers (the device's own relay, or the node's second one)
    failing = {REAL.url}  # even while the real neighbour is out of reach for a while
    for n in range(1, 1000):
        kept, dropped = addresses.add(claimed(n), failed=failing)
        assert REAL.url not in dropped
        assert claimed(0).url not in dropped
        assert kept == (n <= 2 or bool(dropped)), "room is made only by letting a failed later address go"
        failing.add(claimed(n).url)  # nothing answers at the device's made-up addresses
    assert urls(addresses)[:2] == [REAL.url, claimed(0).url]
    assert len(urls(addresses)) == 4


def test_when_a_node_has_no_room_left_a_newcomer_waits_for_a_failed_address() -> None:
    addresses = Addresses(per_peer=2)
    addresses.add(REAL)
    addresses.add(claimed(1))
    assert addresses.add(claimed(2)) == (False, []), "both answer: the newcomer is not linked"
    assert addresses.add(claimed(2), failed={REAL.url}) == (False, []), "never in place of the first"
    assert addresses.add(claimed(2), failed={claimed(1).url}) == (True, [claimed(1).url])
    assert urls(addresses) == [REAL.url, claimed(2).url]


def test_a_node_that_moved_is_linked_at_its_new_address() -> None:
    addresses = Addresses()
    addresses.add(REAL)
    moved = Sighting("n1", "ws://10.42.0.8:4848", "", False)
    assert addresses.add(moved, failed={REAL.url}) == (True, [])
    assert urls(addresses) == [REAL.url, moved.url], "the old address is tried until the node is lost"
    assert addresses.lost("n1") == [REAL.url, moved.url]
    assert addresses.pairs() == 0


def test_a_new_node_takes_room_only_from_failed_later_addresses_of_others() -> None:
    addresses = Addresses(max_peers=3, max_pairs=3)
    addresses.add(REAL)
    addresses.add(claimed(1))
    addresses.add(claimed(2))
    newcomer = Sighting("n2", "ws://10.42.0.50:4848", "", False)
    assert addresses.add(newcomer) == (False, []), "every link works: no room"
    assert addresses.add(newcomer, failed={REAL.url}) == (False, []), "never a node's first address"
    assert addresses.add(newcomer, failed={REAL.url, claimed(1).url, claimed(2).url}) == (True, [claimed(2).url])
    assert addresses.first("n1") == REAL.url
    assert addresses.first("n2") == newcomer.url


adds = st.lists(
    st.tuples(
        st.integers(0, 6),  # which node
        st.integers(0, 12),  # which address
        st.sets(st.integers(0, 12), max_size=13),  # which addresses' links are failing
        st.booleans(),  # or: the node is lost
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(ops=adds)
def test_whatever_is_claimed_the_addresses_stay_within_bounds_and_first_ones_stay(
    ops: list[tuple[int, int, set[int], bool]],
) -> None:
    addresses = Addresses(max_peers=4, max_pairs=7, per_peer=3)
    first: dict[str, str] = {}
    for node, address, failing, lose in ops:
        instance, url = f"n{node}", f"ws://10.42.0.{address + 2}:4848"
        if lose:
            assert set(addresses.lost(instance)) >= ({first.pop(instance)} if instance in first else set())
        else:
            kept, dropped = addresses.add(
                Sighting(instance, url, "", False), {f"ws://10.42.0.{f + 2}:4848" for f in failing}
            )
            assert set(dropped) <= {f"ws://10.42.0.{f + 2}:4848" for f in failing}, "only failed ones let go"
            if kept:
                first.setdefault(instance, url)
        assert {i: addresses.first(i) for i in first} == first, "a node's first address stays while it is kept"
        assert len(addresses.seen) <= 4
        assert addresses.pairs() <= 7
        assert all(len(u) <= 3 for u in addresses.seen.values())


# -- a device announcing as many made-up nodes as there is room for ------------------------------------------------


class Links:
    """The mesh's side, as the roster sees it: since when each node's links have not worked (absent: they work, or
    were not tried yet), and which nodes that makes replaceable at the time of ``clock``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.failing: dict[str, float] = {}

    def replaceable(self) -> list[str]:
        old = [i for i, since in self.failing.items() if self.now - since >= FAILING_FOR]
        return sorted(old, key=self.failing.__getitem__)


def fake(n: int) -> Sighting:
    """A made-up node the device announces, each at an address of its own, where nothing answers."""
    return Sighting(f"fake{n}", f"ws://10.42.{1 + n // 250}.{n % 250 + 2}:4848", "", False)


NEIGHBOUR = Sighting("neighbour", "ws://10.42.0.7:4848", "", False)


def announce(roster: Roster, name: str, found: Sighting, now: float) -> tuple[Sighting | None, list[str]]:
    """Service ``name`` announced (again) and resolved, as the discovery does."""
    roster.heard(name, now)
    if not roster.wanted(name, now):
        return None, []
    return roster.resolved(name, found, now)


def full_of_fakes(links: Links) -> Roster:
    roster = Roster(replaceable=links.replaceable)
    for n in range(MAX_ANNOUNCED):
        assert announce(roster, f"fake{n}", fake(n), links.now)[0] == fake(n)
        links.failing[f"fake{n}"] = links.now + n / 1000  # their links fail at once
    return roster


def test_when_full_of_nodes_that_do_not_work_a_newcomer_takes_the_place_of_the_longest_failing() -> None:
    links = Links()
    roster = full_of_fakes(links)
    links.now = 10.0
    assert announce(roster, "neighbour", NEIGHBOUR, links.now) == (None, []), "failing, but not for long yet"
    links.now = FAILING_FOR + 1
    for n in range(MAX_ANNOUNCED):
        roster.heard(f"fake{n}", links.now)  # the device keeps announcing them
    resolve = roster.tick(links.now).resolve
    assert resolve == ["neighbour"], "the waiting neighbour is looked at now"
    assert roster.resolved("neighbour", NEIGHBOUR, links.now) == (NEIGHBOUR, ["fake0"]), "the longest failing"
    assert len(roster.kept) == MAX_ANNOUNCED
    assert announce(roster, "fake0", fake(0), links.now + 1) == (None, []), "not taken back at once"
    assert roster.tick(links.now + 1).resolve == []


def test_a_node_whose_link_works_is_never_pushed_out() -> None:
    links = Links()
    roster = full_of_fakes(links)
    del links.failing["fake5"]  # something answers there and reconciles: it works, whoever it is
    for second in range(1, 2000):  # new made-up nodes every second, for half an hour
        links.now = float(second)
        for n in range(MAX_ANNOUNCED):
            roster.heard(f"fake{n}", links.now)
        found, lost = announce(roster, f"new{second}", fake(second + 100), links.now)
        if found is not None:
            links.failing[found.instance] = links.now  # each newcomer fails too
        assert "fake5" not in lost
        roster.tick(links.now)
        assert "fake5" in roster.kept
        assert len(roster.kept) <= MAX_ANNOUNCED


def test_the_device_re_announcing_what_was_pushed_out_cannot_push_the_neighbour_out() -> None:
    links = Links()
    roster = full_of_fakes(links)
    assert announce(roster, "neighbour", NEIGHBOUR, 1.0) == (None, [])
    swaps = 0
    for second in range(2, 3600):  # an hour of the device announcing all its nodes every second
        links.now = float(second)
        for n in range(MAX_ANNOUNCED):
            found, lost = announce(roster, f"fake{n}", fake(n), links.now)
            swaps += len(lost)
            if found is not None and f"fake{n}" not in links.failing:
                links.failing[f"fake{n}"] = links.now
            assert "neighbour" not in lost
        roster.heard("neighbour", links.now)  # it answers questions
        for name in roster.tick(links.now).resolve:
            found, lost = roster.resolved(name, NEIGHBOUR if name == "neighbour" else fake(int(name[4:])), links.now)
            swaps += len(lost)
            assert "neighbour" not in lost
        for gone in set(links.failing) - {s.instance for s in roster.kept.values()}:
            del links.failing[gone]  # pushed out: its links are gone
        if second > FAILING_FOR + 2:
            assert "neighbour" in roster.kept, f"not kept at {second} s"
    assert swaps <= MAX_ANNOUNCED * 3600 / FAILING_FOR, "the device only trades its own nodes, and not every second"


def test_one_address_holds_a_few_nodes_not_all_the_room() -> None:
    roster = Roster()
    one = [Sighting(f"fake{n}", f"ws://10.42.0.66:{5000 + n}", "", False) for n in range(MAX_ANNOUNCED)]
    kept = [announce(roster, f"fake{n}", s, 0.0)[0] for n, s in enumerate(one)]
    assert sum(k is not None for k in kept) == MAX_PER_ADDRESS
    assert announce(roster, "neighbour", NEIGHBOUR, 0.5) == (NEIGHBOUR, []), "room is left for real neighbours"
    assert not roster.wanted(f"fake{MAX_ANNOUNCED - 1}", 1.0), "one refused is not looked at again at once"
    assert roster.tick(1.0).resolve == []


def test_addresses_full_of_nodes_that_do_not_work_let_a_newcomer_in() -> None:
    addresses = Addresses()
    dead = "ws://10.42.0.66:4848"  # 64 made-up ids at one address, all their links failing
    for n in range(MAX_ANNOUNCED):
        assert addresses.add(Sighting(f"fake{n}", dead, "", False), failed={dead}) == (True, [])
    assert addresses.add(NEIGHBOUR, failed={dead}) == (False, []), "failing, but not for long yet"
    assert addresses.add(NEIGHBOUR, failed={dead}, replaceable=["fake3", "fake1"]) == (True, [dead])
    assert "fake3" not in addresses.seen
    assert "fake1" in addresses.seen
    assert addresses.first("neighbour") == NEIGHBOUR.url
    other = Sighting("other", "ws://10.42.0.8:4848", "", False)
    assert addresses.add(other, failed={dead}, replaceable=["neighbour"]) == (True, [NEIGHBOUR.url]), (
        "only the caller knows which work: whatever it names goes, and nothing else"
    )
    assert addresses.add(Sighting("fake3", dead, "", False), failed={dead}) == (False, [])


hostile = st.lists(
    st.tuples(
        st.sampled_from(["announce", "tick", "removed"]),
        st.integers(0, 12),  # which service
        st.integers(0, 3),  # at which address
        st.floats(0, 40),  # time passing
        st.sets(st.integers(0, 12), max_size=13),  # which nodes do not work
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(ops=hostile)
def test_whatever_is_announced_nodes_that_work_keep_their_place(
    ops: list[tuple[str, int, int, float, set[int]]],
) -> None:
    failing: list[str] = []
    roster = Roster(max_kept=5, max_per_address=2, resolve_burst=4, resolve_rate=1, replaceable=lambda: failing)
    now = 0.0
    for op, n, address, dt, bad in ops:
        now += dt
        failing[:] = [f"i{b}" for b in sorted(bad)]
        name, found = f"s{n}", Sighting(f"i{n}", f"ws://10.42.0.{address + 2}:{4000 + n}", "", False)
        lost: list[str] = []
        if op == "announce":
            was_kept = name in roster.kept
            _, lost = announce(roster, name, found, now)
            if not was_kept:
                assert set(lost) <= set(failing), "only a node that does not work makes room"
        elif op == "tick":
            tick = roster.tick(now)
            for resolving in tick.resolve:
                k = int(resolving[1:])
                _, pushed = roster.resolved(
                    resolving, Sighting(f"i{k}", f"ws://10.42.0.{k % 4 + 2}:{4000 + k}", "", False), now
                )
                assert set(pushed) <= set(failing), "only a node that does not work makes room"
        else:
            roster.removed(name)
        assert len(roster.kept) <= 5
        hosts = [s.url.split(":")[1] for s in roster.kept.values()]
        assert all(hosts.count(h) <= 2 for h in hosts)


def test_made_up_nodes_at_a_neighbours_address_do_not_keep_it_out() -> None:
    """The cap on one address must not become a way to shut a neighbour out: a device announcing made-up nodes
    at the neighbour's address (other ports, where nothing answers) before it comes."""
    links = Links()
    roster = Roster(replaceable=links.replaceable, hold=30)
    for n in range(MAX_PER_ADDRESS):
        squatter = Sighting(f"fake{n}", f"ws://10.42.0.7:{5000 + n}", "", False)
        assert announce(roster, f"fake{n}", squatter, 0.0)[0] == squatter
        links.failing[f"fake{n}"] = 0.0
    assert announce(roster, "neighbour", NEIGHBOUR, 1.0) == (None, []), "at the cap, and none failing for long"
    links.now = max(FAILING_FOR, 31.0)
    found, lost = announce(roster, "neighbour", NEIGHBOUR, links.now)
    assert found == NEIGHBOUR
    assert lost == ["fake0"]
    assert sum(s.url.startswith("ws://10.42.0.7:") for s in roster.kept.values()) == MAX_PER_ADDRESS
