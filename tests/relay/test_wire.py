"""Frames built once for every connection are the frames websockets would have built for each."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from samizdat.relay.wire import text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_a_text_frame_is_byte_for_byte_what_websockets_sends(size: int) -> None:
    payload = (b'["EVENT","s",' + b"x" * size + b"]")[:size] if size else b""
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)
