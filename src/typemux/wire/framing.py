"""Sans-IO Content-Length framing (the base protocol of LSP).

`FrameDecoder` never touches a file descriptor: callers feed it bytes and pull events, so the
same decoder serves the client's stdin and every backend's stdout, and tests drive it
byte by byte. A bad frame yields one `FrameError` and decoding resumes; the decoder itself
never raises on input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_SIZE: Final = 64 * 1024 * 1024
# Real header blocks are ~25-60 bytes; anything near this is a stream that is not LSP.
MAX_HEADER_SIZE: Final = 8 * 1024

# The header block ends at an empty line; bare "\n" line endings are accepted too.
_TERMINATOR = re.compile(rb"\n\r?\n")
# What nearly every LSP peer sends; parsed with one regex call instead of a line loop.
_FAST_HEADER = re.compile(rb"Content-Length: ([0-9]{1,19})\r\n\r\n")
# Where a new frame can start when resynchronising after garbage.
_RESYNC = re.compile(rb"(?i)content-length[ \t]*:")
_RESYNC_KEEP = 64  # tail kept while resyncing, so a split "Content-Length:" is still found
_BLANK = b"\r\n \t"


@dataclass(frozen=True, slots=True)
class Frame:
    body: bytes


@dataclass(frozen=True, slots=True)
class FrameError:
    reason: str


class NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


class Eof:
    __slots__ = ()

    def __repr__(self) -> str:
        return "EOF"


NEED_DATA: Final = NeedData()
EOF: Final = Eof()

Event = Frame | FrameError | NeedData | Eof


def encode_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class FrameDecoder:
    """Turns a byte stream into `Frame`s.

    The buffer is a bytearray read through an offset and compacted only when more data is
    needed, so a chunk holding many frames decodes in one pass without re-copying the rest.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._pos = 0
        self._body_len = -1  # >= 0 while waiting for the body of a parsed header
        self._scanned = 0  # header bytes already searched for a terminator
        self._skip = 0  # bytes of an oversize body still to throw away
        self._resync = False  # discarding garbage until something like a header appears
        self._eof = False
        self._done = False

    @property
    def buffered(self) -> int:
        """Bytes held in memory (undecoded input)."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the stream; `b""` means the stream ended."""
        if self._eof:
            return  # late data after EOF cannot belong to any frame
        if not data:
            self._eof = True
            return
        if self._skip and self._pos == len(self._buf):
            # The oversize body is counted down here, so it never enters the buffer.
            take = min(self._skip, len(data))
            self._skip -= take
            if take == len(data):
                return
            data = data[take:]
        self._buf += data

    def next_event(self) -> Event:
        buf = self._buf
        if self._skip:
            take = min(self._skip, len(buf) - self._pos)
            self._skip -= take
            self._pos += take
            if self._skip:
                return self._need_data()
        if self._resync and not self._find_resync():
            return self._need_data()
        if self._body_len >= 0:
            return self._take_body(self._pos)
        pos = self._pos
        while pos < len(buf) and buf[pos] in _BLANK:
            pos += 1  # stray line breaks between frames are harmless
        self._pos = pos
        fast = _FAST_HEADER.match(buf, pos)
        if fast is not None:
            return self._start_body(int(fast.group(1)), fast.end())
        start = max(pos, pos + self._scanned - 2)
        end = _TERMINATOR.search(buf, start, pos + MAX_HEADER_SIZE + 3)
        if end is None:
            available = len(buf) - pos
            if available > MAX_HEADER_SIZE:
                self._resync = True
                self._scanned = 0
                # Past the first byte, so a "Content-Length:" opening this block is not
                # found again; a header further on, already in the buffer, still is.
                self._pos = pos + 1
                return FrameError(
                    f"no end of header block within {MAX_HEADER_SIZE} bytes; "
                    "discarding input until the next Content-Length header"
                )
            self._scanned = available
            return self._need_data()
        self._scanned = 0
        block = bytes(buf[pos : end.start()])
        length, problem = _parse_header(block)
        if problem is not None:
            self._pos = end.end()
            return FrameError(f"{problem}; header block skipped")
        return self._start_body(length, end.end())

    def _start_body(self, length: int, body_start: int) -> Event:
        if length > self.max_size:
            self._pos = body_start
            self._skip = length
            available = min(length, len(self._buf) - body_start)
            self._skip -= available
            self._pos += available
            return FrameError(
                f"Content-Length {length} exceeds max_message_size {self.max_size}; frame skipped"
            )
        self._body_len = length
        return self._take_body(body_start)

    def _take_body(self, body_start: int) -> Event:
        end = body_start + self._body_len
        if end > len(self._buf):
            self._pos = body_start
            return self._need_data()
        body = bytes(self._buf[body_start:end])
        self._pos = end
        self._body_len = -1
        return Frame(body)

    def _find_resync(self) -> bool:
        found = _RESYNC.search(self._buf, self._pos)
        if found is None:
            self._discard_for_resync()
            return False
        self._pos = found.start()
        self._resync = False
        return True

    def _discard_for_resync(self) -> None:
        self._pos = max(self._pos, len(self._buf) - _RESYNC_KEEP)

    def _need_data(self) -> NeedData | FrameError | Eof:
        if self._eof:
            return self._at_eof()
        if self._pos:
            # bytearray deletes from the front without moving the tail (CPython keeps an
            # offset), and this runs once per chunk, not once per frame.
            del self._buf[: self._pos]
            self._pos = 0
        return NEED_DATA

    def _at_eof(self) -> FrameError | Eof:
        if self._done:
            return EOF
        self._done = True
        leftover = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        if self._skip or self._resync:
            return EOF  # the oversize body or the garbage was already reported
        if self._body_len >= 0:
            return FrameError(
                f"truncated frame at EOF: body has {len(leftover)} of {self._body_len} bytes"
            )
        leftover = leftover.strip(_BLANK)
        if not leftover:
            return EOF
        return FrameError(f"truncated frame at EOF: {len(leftover)} bytes of incomplete header")


def _parse_header(block: bytes) -> tuple[int, str | None]:
    """The Content-Length of a header block, or why there is none usable."""
    length: int | None = None
    for line in block.split(b"\n"):
        name, colon, value = line.partition(b":")
        if not colon or name.strip().lower() != b"content-length":
            continue  # other headers (Content-Type) and stray text before the header
        value = value.strip()
        if not value.isdigit() or len(value) > 19:
            shown = value[:40].decode("ascii", "replace")
            return 0, f"invalid Content-Length {shown!r}"
        parsed = int(value)
        if length is not None and parsed != length:
            return 0, "conflicting Content-Length headers"
        length = parsed
    if length is None:
        return 0, "missing Content-Length header"
    return length, None
