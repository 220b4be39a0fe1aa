"""Geohashes: known encodings, cells that contain their points, prefixes for g tags, and validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat.core import geohash
from samizdat.errors import LocalProtocolError, UsageError


@pytest.mark.parametrize(
    ("lat", "lon", "precision", "expected"),
    [
        (57.64911, 10.40744, 11, "u4pruydqqvj"),  # the example on Wikipedia's geohash page
        (42.605, -5.603, 5, "ezs42"),
        (-33.8688, 151.2093, 7, "r3gx2f7"),  # Sydney: southern and eastern hemisphere
        (0.0, 0.0, 4, "s000"),
        (-90.0, -180.0, 3, "000"),
        (90.0, 180.0, 3, "zzz"),
    ],
)
def test_known_encodings(lat: float, lon: float, precision: int, expected: str) -> None:
    assert geohash.encode(lat, lon, precision) == expected


@given(
    st.floats(-90, 90, allow_nan=False),
    st.floats(-180, 180, allow_nan=False),
    st.integers(1, geohash.MAX_LENGTH),
)
def test_the_cell_of_a_point_contains_it(lat: float, lon: float, precision: int) -> None:
    code = geohash.encode(lat, lon, precision)
    assert len(code) == precision
    assert geohash.is_geohash(code)
    centre_lat, centre_lon, lat_err, lon_err = geohash.decode(code)
    assert abs(centre_lat - lat) <= lat_err + 1e-9
    assert abs(centre_lon - lon) <= lon_err + 1e-9
    # A prefix is the enclosing cell: the same point encoded at lower precision.
    assert geohash.encode(lat, lon, max(1, precision - 2)) == code[: max(1, precision - 2)]


def test_decode_sizes_shrink_with_precision() -> None:
    _, _, lat5, lon5 = geohash.decode("u9edp")
    _, _, lat6, lon6 = geohash.decode("u9edp2")
    assert lat6 < lat5
    assert lon6 < lon5
    assert math.isclose(lon5 * 2, 360 / 2**13)  # 25 bits: 13 for longitude


@pytest.mark.parametrize("bad", ["", "a", "u9eA", "u9ei", "u9el", "u9eo", "u9 e", "0" * 13, "юг"])
def test_invalid_geohashes(bad: str) -> None:
    assert not geohash.is_geohash(bad)
    with pytest.raises(LocalProtocolError, match="not a geohash"):
        geohash.decode(bad)


def test_non_strings_are_not_geohashes() -> None:
    assert not geohash.is_geohash(None)
    assert not geohash.is_geohash(12345)


@pytest.mark.parametrize(("lat", "lon"), [(91, 0), (-90.5, 0), (0, 181), (0, -180.5), (math.nan, 0), (0, math.nan)])
def test_encode_refuses_a_persons_coordinates_out_of_range(lat: float, lon: float) -> None:
    with pytest.raises(UsageError, match="must be between"):
        geohash.encode(lat, lon, 5)


@pytest.mark.parametrize("precision", [0, 13])
def test_encode_refuses_a_precision_out_of_range_as_our_mistake(precision: int) -> None:
    with pytest.raises(LocalProtocolError, match="precision must be"):
        geohash.encode(0, 0, precision)


def test_prefixes_for_g_tags() -> None:
    assert geohash.prefixes("u9edp2") == ("u9e", "u9ed", "u9edp", "u9edp2")
    assert geohash.prefixes("u9") == ("u9",)
    assert geohash.prefixes("u9edp2", min_length=5) == ("u9edp", "u9edp2")
    with pytest.raises(LocalProtocolError, match="not a geohash"):
        geohash.prefixes("nope!")


def test_longest_consistent() -> None:
    assert geohash.longest_consistent(["u9e", "u9edp2", "u9ed"]) == "u9edp2"
    assert geohash.longest_consistent(["u9e", "u4p"]) is None
    assert geohash.longest_consistent([]) is None
