"""The pieces both event stores share (store/reading.py) that the store contract suite cannot reach alone."""

from __future__ import annotations

from samizdat.store.reading import ready_items


def test_items_of_the_last_timestamp_wait_and_the_others_go_out_in_id_order() -> None:
    rows = [(1, b"\x02"), (1, b"\x01"), (2, b"\x09"), (3, b"\x05"), (3, b"\x04")]
    ready, rest = ready_items(rows)
    assert ready == [(1, b"\x01"), (1, b"\x02"), (2, b"\x09")]
    assert rest == [(3, b"\x05"), (3, b"\x04")]  # more rows of timestamp 3 may follow
    assert ready_items([(3, b"\x05"), (3, b"\x04")]) == ([], [(3, b"\x05"), (3, b"\x04")])
    assert ready_items([]) == ([], [])
