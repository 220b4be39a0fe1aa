"""WebSocket text frames built once and written as they are, for the relay's send path.

A frame a server sends is not masked (RFC 6455, 5.1), so without a compression extension the bytes of a text
frame depend on its payload alone: the fan-out builds the frame of an event once per subscription id and hands
the same bytes object to every connection's transport, instead of having ``websockets`` frame the payload once
per connection. :func:`text_frame` gives exactly what ``websockets``' ``Frame(OP_TEXT, payload).serialize(mask=
False)`` gives (a test checks); a connection that negotiated ``permessage-deflate`` is framed by ``websockets``
as before (the frames differ per connection then).
"""

from __future__ import annotations

_FIN_TEXT = 0x81  # FIN bit and the text opcode


def text_frame_header(size: int) -> bytes:
    """The header of an unmasked, unfragmented text frame with a payload of ``size`` bytes."""
    if size < 126:
        return bytes((_FIN_TEXT, size))
    if size < 1 << 16:
        return bytes((_FIN_TEXT, 126)) + size.to_bytes(2, "big")
    return bytes((_FIN_TEXT, 127)) + size.to_bytes(8, "big")


def text_frame(payload: bytes) -> bytes:
    """``payload`` (UTF-8 text, as every relay message is) as one unmasked text frame, ready for a transport."""
    return text_frame_header(len(payload)) + payload
