"""The Docker engine's multiplexed log stream, decoded: frames cut at any byte come out
whole, in order, each on its stream. Over a real container: tests/test_logs.py.
"""

from __future__ import annotations

import struct

from botmaker.runtime.base import LogChunk
from botmaker.runtime.streams import frames


def test_log_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    """The engine's frames arrive cut at any byte; runs of one stream are joined."""

    def frame(kind: int, data: bytes) -> bytes:
        return struct.pack(">BxxxL", kind, len(data)) + data

    wire = (
        frame(1, b"a\n") + frame(1, b"b\n") + frame(2, b"oops\n") + frame(1, b"") + frame(1, b"c")
    )
    for cut in range(1, len(wire)):
        buffer = bytearray()
        chunks: list[LogChunk] = []
        for piece in (wire[:cut], wire[cut:]):
            buffer += piece
            chunks.extend(frames(buffer))
        assert not buffer
        merged: list[tuple[str, bytes]] = []
        for chunk in chunks:
            if merged and merged[-1][0] == chunk.stream:
                merged[-1] = (chunk.stream, merged[-1][1] + chunk.data)
            else:
                merged.append((chunk.stream, chunk.data))
        assert merged == [("stdout", b"a\nb\n"), ("stderr", b"oops\n"), ("stdout", b"c")], cut
