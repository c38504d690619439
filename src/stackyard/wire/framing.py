"""How jobs and replies travel on a cell's socket: a 4-byte length, then msgpack. A frame longer than the limit
ends the connection: neither side buffers without bound what the other sends."""

from __future__ import annotations

import struct
from typing import Any, Generic, TypeVar

import msgspec

from stackyard.wire.jobs import Envelope
from stackyard.wire.replies import Reply

LENGTH = struct.Struct("!I")
MAX_FRAME = (1 << 32) - 1

T = TypeVar("T")


class FrameTooLarge(Exception):
    """The other side sent a frame longer than the limit; the connection cannot be read any further."""


_encoder = msgspec.msgpack.Encoder()


def frame(message: Any) -> bytes:
    """One message as it goes on the wire."""
    data = _encoder.encode(message)
    return LENGTH.pack(len(data)) + data


class Frames(Generic[T]):
    """Bytes in, decoded messages out, in order; incomplete frames wait for more bytes."""

    def __init__(self, kind: Any, max_bytes: int) -> None:
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(kind)
        self._buffer = bytearray()
        self._max = max_bytes

    def feed(self, data: bytes) -> list[T]:
        buffer = self._buffer
        buffer += data
        out: list[T] = []
        start = 0
        while len(buffer) - start >= LENGTH.size:
            (length,) = LENGTH.unpack_from(buffer, start)
            if length > self._max:
                raise FrameTooLarge(f"a frame of {length} bytes, over the limit of {self._max}")
            end = start + LENGTH.size + length
            if len(buffer) < end:
                break
            out.append(self._decoder.decode(memoryview(buffer)[start + LENGTH.size : end]))
            start = end
        if start:
            del buffer[:start]
        return out


def job_frames(max_bytes: int) -> Frames[Envelope]:
    frames: Frames[Envelope] = Frames(Envelope, max_bytes)
    return frames


def reply_frames(max_bytes: int) -> Frames[Reply]:
    frames: Frames[Reply] = Frames(Reply, max_bytes)
    return frames
