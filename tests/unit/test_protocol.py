from execbox.sandbox import protocol


def _frames(*frames: tuple[bytes, dict, bytes]) -> bytes:
    import os

    r, w = os.pipe()
    for kind, payload, tail in frames:
        protocol.send(w, kind, payload, tail)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    return data


def test_frames_split_across_reads_and_tail_kept():
    data = _frames((protocol.STARTED, {"pid": 2}, b""),
                   (protocol.EXIT, {"wait_status": 0, "files": [["a", 3]]}, b"abc"))
    reader = protocol.FrameReader()
    for i in range(0, len(data), 3):  # byte-by-byte-ish delivery
        reader.feed(data[i:i + 3])
    assert reader.first(protocol.STARTED) == {"pid": 2}
    assert reader.first(protocol.EXIT)["files"] == [["a", 3]]
    assert bytes(reader.tail) == b"abc"


def test_non_object_frame_is_rejected():
    import json
    import struct

    import pytest

    body = json.dumps([1, 2]).encode()
    reader = protocol.FrameReader()
    with pytest.raises(ValueError):
        reader.feed(struct.pack("!cI", b"S", len(body)) + body)


def test_oversized_frame_is_rejected():
    import struct

    import pytest

    reader = protocol.FrameReader()
    reader.feed(struct.pack("!cI", b"S", 10))
    with pytest.raises(ValueError):
        reader.feed(b"x" * (protocol.MAX_FRAME + 1))


def test_bytes_after_a_whole_report_are_kept_for_the_next_run():
    data = _frames((protocol.EXIT, {"wait_status": 0, "files": [["a", 3]]}, b"abc"),
                   (protocol.READY, {"marks": []}, b""))
    reader = protocol.FrameReader()
    reader.feed(data)  # one read: the report, its files, and the next READY
    assert reader.complete and bytes(reader.tail) == b"abc"
    follow = protocol.FrameReader()
    follow.feed(bytes(reader.leftover))
    assert follow.first(protocol.READY) == {"marks": []}
