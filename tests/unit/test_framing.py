from __future__ import annotations

import pytest

from typemux.wire.framing import (
    EOF,
    MAX_HEADER_SIZE,
    NEED_DATA,
    Frame,
    FrameDecoder,
    FrameError,
    encode_frame,
)

Event = Frame | FrameError | object


def drain(decoder: FrameDecoder) -> list[Event]:
    """Events until the decoder needs data or has reported EOF."""
    events: list[Event] = []
    while True:
        event = decoder.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if event is EOF:
            return events


def feed(decoder: FrameDecoder, data: bytes) -> list[Event]:
    decoder.receive_data(data)
    return drain(decoder)


def test_encode_frame_prefixes_content_length() -> None:
    assert encode_frame(b'{"a":1}') == b'Content-Length: 7\r\n\r\n{"a":1}'


def test_one_frame() -> None:
    assert feed(FrameDecoder(), encode_frame(b'{"id":1}')) == [Frame(b'{"id":1}')]


def test_many_frames_in_one_chunk() -> None:
    bodies = [b'{"n":%d}' % i for i in range(500)]
    events = feed(FrameDecoder(), b"".join(encode_frame(b) for b in bodies))
    assert events == [Frame(b) for b in bodies]


def test_frame_split_byte_by_byte() -> None:
    decoder = FrameDecoder()
    data = encode_frame(b'{"x":"\xc3\xa9"}') + encode_frame(b"[]")
    events: list[Event] = []
    for i in range(len(data)):
        events += feed(decoder, data[i : i + 1])
    assert events == [Frame(b'{"x":"\xc3\xa9"}'), Frame(b"[]")]
    assert decoder.buffered == 0


def test_header_name_is_case_insensitive() -> None:
    events = feed(FrameDecoder(), b"content-LENGTH:5\r\n\r\nhello")
    assert events == [Frame(b"hello")]


def test_content_type_header_is_ignored() -> None:
    data = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}"
    assert feed(FrameDecoder(), data) == [Frame(b"{}")]


def test_bare_newline_header_endings() -> None:
    assert feed(FrameDecoder(), b"Content-Length: 2\n\n{}Content-Length: 2\n\n[]") == [
        Frame(b"{}"),
        Frame(b"[]"),
    ]


def test_missing_length_is_one_error_then_resync() -> None:
    events = feed(FrameDecoder(), b"Content-Type: x\r\n\r\n" + encode_frame(b"{}"))
    assert len(events) == 2
    assert isinstance(events[0], FrameError)
    assert "missing Content-Length" in events[0].reason
    assert events[1] == Frame(b"{}")


@pytest.mark.parametrize("value", [b"abc", b"-5", b"1_0", b"+3", b"99999999999999999999999"])
def test_garbage_length_is_one_error_then_resync(value: bytes) -> None:
    events = feed(FrameDecoder(), b"Content-Length: " + value + b"\r\n\r\n" + encode_frame(b"{}"))
    assert len(events) == 2
    assert isinstance(events[0], FrameError)
    assert "Content-Length" in events[0].reason
    assert events[1] == Frame(b"{}")


def test_conflicting_lengths_are_an_error() -> None:
    events = feed(FrameDecoder(), b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n")
    assert len(events) == 1
    assert isinstance(events[0], FrameError)


def test_stray_blank_lines_between_frames_are_skipped() -> None:
    data = encode_frame(b"{}") + b"\r\n" + encode_frame(b"[]")
    assert feed(FrameDecoder(), data) == [Frame(b"{}"), Frame(b"[]")]


def test_oversize_body_is_skipped_without_buffering_it() -> None:
    max_size = 1024 * 1024
    decoder = FrameDecoder(max_size)
    size = 10 * 1024 * 1024
    events = feed(decoder, b"Content-Length: %d\r\n\r\n" % size)
    assert len(events) == 1
    assert isinstance(events[0], FrameError)
    assert "exceeds max_message_size" in events[0].reason

    chunk = b"x" * 65536
    largest = 0
    for _ in range(size // len(chunk)):
        decoder.receive_data(chunk)
        largest = max(largest, decoder.buffered)
        assert drain(decoder) == []
    assert largest == 0

    assert feed(decoder, encode_frame(b'{"after":true}')) == [Frame(b'{"after":true}')]


def test_oversize_body_in_the_same_chunk_as_the_next_frame() -> None:
    decoder = FrameDecoder(max_size=10)
    data = encode_frame(b"y" * 50) + encode_frame(b"{}")
    events = feed(decoder, data)
    assert len(events) == 2
    assert isinstance(events[0], FrameError)
    assert events[1] == Frame(b"{}")


def test_body_at_exactly_max_size_is_accepted() -> None:
    assert feed(FrameDecoder(max_size=4), encode_frame(b"abcd")) == [Frame(b"abcd")]


def test_endless_header_is_an_error_and_is_not_buffered() -> None:
    decoder = FrameDecoder()
    events: list[Event] = []
    for _ in range(100):
        events += feed(decoder, b"X" * 1000)
        assert decoder.buffered <= MAX_HEADER_SIZE + 1000
    assert len(events) == 1
    assert isinstance(events[0], FrameError)
    assert feed(decoder, encode_frame(b"{}")) == [Frame(b"{}")]


def test_resync_finds_a_header_split_across_chunks() -> None:
    decoder = FrameDecoder()
    feed(decoder, b"Z" * (MAX_HEADER_SIZE + 10))
    data = encode_frame(b"{}")
    assert feed(decoder, data[:7]) == []
    assert feed(decoder, data[7:]) == [Frame(b"{}")]


def test_a_valid_frame_in_the_same_chunk_as_an_endless_header_survives() -> None:
    decoder = FrameDecoder()
    events = feed(decoder, b"Y" * (MAX_HEADER_SIZE + 5) + encode_frame(b'{"ok":1}'))
    assert isinstance(events[0], FrameError)
    assert events[1:] == [Frame(b'{"ok":1}')]


def test_truncated_body_at_eof() -> None:
    decoder = FrameDecoder()
    events = feed(decoder, b"Content-Length: 10\r\n\r\n{}")
    assert events == []
    events = feed(decoder, b"")
    assert len(events) == 2
    assert isinstance(events[0], FrameError)
    assert events[0].reason.startswith("truncated frame at EOF")
    assert events[1] is EOF
    assert decoder.next_event() is EOF


def test_truncated_header_at_eof() -> None:
    decoder = FrameDecoder()
    events = feed(decoder, b"Content-Len")
    events += feed(decoder, b"")
    assert len(events) == 2
    assert isinstance(events[0], FrameError)
    assert events[0].reason.startswith("truncated frame at EOF")
    assert events[1] is EOF


def test_frames_before_eof_are_delivered_then_clean_eof() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(encode_frame(b"{}") + b"\r\n")
    decoder.receive_data(b"")
    assert drain(decoder) == [Frame(b"{}"), EOF]


def test_data_after_eof_is_ignored() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(b"")
    decoder.receive_data(encode_frame(b"{}"))
    assert drain(decoder) == [EOF]
