"""Sans-IO Content-Length framing (the base protocol of LSP).

`FrameDecoder` never touches a file descriptor: callers feed it bytes and pull events, so the
same decoder serves the client's stdin and every backend's stdout, and tests drive it
byte by byte. A bad frame yields one `FrameError` and decoding resumes at the next
`Content-Length` header; the decoder itself never raises on input.

Resynchronisation rests on one fact: a header line (`Content-Length: N` and a raw line
break) cannot occur inside a JSON text, since JSON strings cannot hold a raw line break
and, outside strings, JSON has no such words. So a header found where a body was expected
proves the announced length wrong, and the bytes between the bad header and the next real
one are the lost message: they are handed on as a `Frame` marked `salvaged`.
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
# A header line: Content-Length or Content-Type, a value without quotes, a raw line break.
# No JSON text holds one (a string cannot hold a raw line break, and outside strings JSON
# has no such words). Searched for only in a window ending at a raw line break (see
# _find_header): a case-insensitive search over a whole body would cost ~30 ms per MB.
_HEADER_LINE = re.compile(rb'(?i)content-(?:length|type)[ \t]*:[^\r\n"]{0,120}\r?\n')
_LINE_WINDOW = 160  # longest header line looked for
_RESYNC_KEEP = 256  # tail kept while resyncing, so a split header line is still found
_BLANK = b"\r\n \t"
# How much of an oversize body is kept to read its id from (see FrameError.head).
OVERSIZE_HEAD: Final = 4096


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~0.3 µs more
class Frame:
    body: bytes
    # Recovered from between two headers after a wrong Content-Length (see the module doc).
    salvaged: bool = False


@dataclass(frozen=True, slots=True)
class FrameError:
    reason: str
    # For a body over max_size: its first bytes (at most OVERSIZE_HEAD), so that the message
    # layer can answer a request under its own id without ever buffering the body.
    head: bytes = b""
    # For a body over max_size: its Content-Length (0 for every other error). The body is
    # skipped and the stream stays in sync: only this message is lost.
    size: int = 0


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


def frame_header(body: bytes) -> bytes:
    """The header block of a frame carrying `body` (the one header encoder of typemux)."""
    return b"Content-Length: %d\r\n\r\n" % len(body)


def encode_frame(body: bytes) -> bytes:
    return frame_header(body) + body


def _find_header(buf: bytes | bytearray, start: int, end: int | None = None) -> int:
    """Where the next header line starts in `buf[start:end]`, or -1. Only raw line breaks
    are looked at: compact JSON has none."""
    end = len(buf) if end is None else end
    newline = buf.find(b"\n", start, end)
    while newline >= 0:
        low = max(start, newline - _LINE_WINDOW, buf.rfind(b"\n", start, newline) + 1)
        found = _HEADER_LINE.search(buf, low, newline + 1)
        if found is not None:
            return found.start()
        newline = buf.find(b"\n", newline + 1, end)
    return -1


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
        self._body_checked = 0  # body bytes already searched for a header (wrong length)
        self._scanned = 0  # header bytes already searched for a terminator
        self._skip = 0  # bytes of an oversize body still to throw away
        self._skip_tail = b""  # end of the skipped bytes, for a header split across reads
        # The oversize error waits for the body's first bytes (its head), so that the event
        # is the same however the input is split: (reason, head wanted, head so far).
        self._oversize: tuple[str, int, bytearray, int] | None = None
        self._skipped = 0  # bytes of the oversize body skipped so far
        # While resynchronising (all absolute offsets into _buf, -1 when unset): where to
        # search for the next header, where the bytes to salvage start, and the end of a
        # rejected body (its own bytes are not salvaged a second time).
        self._resync_at = -1
        self._salvage_at = -1
        self._rejected_end = -1
        self._last_body = (-1, -1)  # offsets of the last Frame's body, for reject()
        self._eof = False
        self._done = False
        # A chunk that is exactly one plain frame, read while nothing was buffered (the
        # common case of a request or an answer on its own), is kept as it came instead of
        # going through the buffer: (chunk, where its body starts). `_taken` is such a
        # chunk whose body was just returned, for reject().
        self._whole: bytes | None = None
        self._whole_start = 0
        self._taken: bytes | None = None
        self._grown = False  # the buffer held data since it was last replaced

    @property
    def buffered(self) -> int:
        """Bytes held in memory (undecoded input)."""
        whole = len(self._whole) if self._whole is not None else 0
        return len(self._buf) - self._pos + whole

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the stream; `b""` means the stream ended."""
        if self._eof:
            return  # late data after EOF cannot belong to any frame
        if not data:
            self._eof = True
            return
        if self._whole is not None:  # fed twice before the first chunk was read
            self._buf += self._whole
            self._whole = None
        elif (not self._buf and self._body_len < 0 and self._resync_at < 0 and not self._skip
              and self._oversize is None):
            fast = _FAST_HEADER.match(data)
            if fast is not None:
                start = fast.end()
                if start + int(fast.group(1)) == len(data) and len(data) - start <= self.max_size:
                    self._whole = data
                    self._whole_start = start
                    return
        if self._skip and self._pos == len(self._buf):
            # The oversize body is counted down here, so it never enters the buffer.
            data = self._skip_bytes(data)
            if not data:
                return
        self._buf += data
        self._grown = True

    def reject(self) -> None:
        """The body of the Frame just returned is not a message (it is not JSON): its
        Content-Length was probably wrong. Decoding goes on from the next header found
        from that body's first byte on, and the bytes before it come back as a salvaged
        Frame when they differ from the rejected body. Call it before the next event."""
        taken, self._taken = self._taken, None
        if taken is not None:  # it came as a whole chunk: buffered now, as if it had been
            self._buf[:0] = taken
            self._grown = True
            self._last_body = (self._whole_start, len(taken))
        start, end = self._last_body
        self._last_body = (-1, -1)
        if start < 0 or self._resync_at >= 0 or self._body_len >= 0 or self._skip:
            return
        self._pos = self._resync_at = self._salvage_at = start
        self._rejected_end = end

    def next_body(self) -> bytes | None:
        """The common case in one step: the next body when a plain header and all of its
        body are buffered (no Frame is built). None: ask `next_event()`."""
        whole = self._whole
        if whole is not None:
            self._whole = None
            self._taken = whole
            return whole[self._whole_start:]
        self._taken = None
        if self._body_len < 0 and self._resync_at < 0 and not self._skip and self._oversize is None:
            buf = self._buf
            fast = _FAST_HEADER.match(buf, self._pos)
            if fast is not None:
                start = fast.end()
                end = start + int(fast.group(1))
                if end <= len(buf) and end - start <= self.max_size:
                    self._pos = end
                    self._scanned = 0
                    self._last_body = (start, end)
                    return bytes(buf[start:end])
        return None

    def next_event(self) -> Event:
        body = self.next_body()
        if body is not None:
            return Frame(body)
        return self.next_other()

    def next_other(self) -> Event:
        """`next_event()` for a caller that `next_body()` just gave None."""
        if (self._pos == len(self._buf) and self._body_len < 0 and self._resync_at < 0
                and not self._skip and self._oversize is None):
            self._scanned = 0
            return self._need_data()  # the common end of a chunk: all of it was taken
        return self._next_event()

    def _next_event(self) -> Event:
        if self._oversize is not None:
            if self._skip:
                self._skip_buffered()
            reason, want, head, size = self._oversize
            if self._skip and len(head) < want and not self._eof:
                return self._need_data()
            self._oversize = None
            return FrameError(reason, bytes(head[:want]), size)
        if self._skip and not self._skip_buffered():
            return self._need_data()
        if self._resync_at >= 0:
            salvaged = self._resync()
            if salvaged is not None:
                return salvaged
            if self._resync_at >= 0:
                return self._need_data()
        if self._body_len >= 0:
            return self._take_body(self._pos)
        buf = self._buf
        pos = self._pos
        while pos < len(buf) and buf[pos] in _BLANK:
            pos += 1  # stray line breaks between frames are harmless
        self._pos = pos
        fast = _FAST_HEADER.match(buf, pos)
        if fast is not None:
            # What a partial header left in `_scanned` belongs to this header, not the next.
            self._scanned = 0
            return self._start_body(int(fast.group(1)), fast.end())
        start = max(pos, pos + self._scanned - 2)
        end = _TERMINATOR.search(buf, start, pos + MAX_HEADER_SIZE + 3)
        if end is None:
            available = len(buf) - pos
            if available > MAX_HEADER_SIZE:
                # Past the first byte, so a header opening this block is not found again;
                # a header further on, already in the buffer, still is.
                self._start_resync(pos + 1, -1)
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
            # The body after a bad header is kept: the next header ends it.
            self._start_resync(pos + 1, end.end())
            return FrameError(f"{problem}; resynchronising at the next Content-Length header")
        return self._start_body(length, end.end())

    def _start_body(self, length: int, body_start: int) -> Event:
        if length > self.max_size:
            self._pos = body_start
            self._skip = length
            self._skip_tail = b""
            self._skipped = 0
            self._oversize = (
                f"Content-Length {length} exceeds max_message_size {self.max_size}; frame skipped",
                min(length, OVERSIZE_HEAD),
                bytearray(),
                length,
            )
            return self._next_event()
        self._body_len = length
        self._body_checked = 0
        return self._take_body(body_start)

    def _take_body(self, body_start: int) -> Event:
        end = body_start + self._body_len
        buf = self._buf
        if end > len(buf):
            self._pos = body_start
            # A body that keeps us waiting is checked for a header as it arrives: a length
            # that is too large would otherwise swallow the frames after it, and wait forever.
            check = max(body_start, body_start + self._body_checked - _RESYNC_KEEP)
            self._body_checked = len(buf) - body_start
            header = _find_header(buf, check)
            if header >= 0:
                length = self._body_len
                self._body_len = -1
                self._start_resync(header, body_start)
                return FrameError(
                    f"Content-Length {length} is wrong: a new header starts "
                    f"{header - body_start} bytes into the body; resynchronising there"
                )
            return self._need_data()
        body = bytes(buf[body_start:end])
        self._pos = end
        self._body_len = -1
        self._last_body = (body_start, end)
        return Frame(body)

    def _skip_buffered(self) -> bool:
        """Count buffered bytes against an oversize body; True when the skipping is over."""
        rest = bytes(self._buf[self._pos :])
        if rest:
            self._buf[self._pos :] = self._skip_bytes(rest)
        return self._skip == 0

    def _skip_bytes(self, data: bytes) -> bytes:
        """Throw away the part of `data` that belongs to an oversize body; returns what
        follows it. The skipped bytes are searched for a header too, in case the length
        was simply wrong: the skipping then stops there."""
        take = min(self._skip, len(data))
        tail = self._skip_tail
        window = tail + data[:take]
        header = _find_header(window, 0)
        oversize = self._oversize
        if oversize is not None:
            head = oversize[2]
            if len(head) < oversize[1]:
                head += data[:take]
            if header >= 0:  # only the bytes before the next header are this body's
                del head[max(0, self._skipped + header - len(tail)) :]
        self._skipped += take
        if header >= 0:
            self._skip = 0
            self._skip_tail = b""
            return window[header:] + data[take:]
        self._skip -= take
        self._skip_tail = window[-_RESYNC_KEEP:]
        return data[take:]

    def _start_resync(self, search_at: int, salvage_at: int) -> None:
        self._resync_at = search_at
        self._salvage_at = salvage_at
        self._rejected_end = -1
        self._pos = min(search_at, salvage_at) if salvage_at >= 0 else search_at
        # The scan offset of the abandoned block must not carry over to the header that
        # resynchronising finds (it would step over that header's end).
        self._scanned = 0

    def _resync(self) -> Frame | None:
        """Look for the next header; returns the salvaged bytes before it, if any."""
        buf = self._buf
        header = _find_header(buf, self._resync_at)
        if header < 0:
            keep = max(self._resync_at, len(buf) - _RESYNC_KEEP)
            self._resync_at = keep
            if self._salvage_at >= 0 and len(buf) - self._salvage_at > self.max_size:
                self._salvage_at = -1  # too long to be one lost message
            self._pos = min(self._salvage_at, keep) if self._salvage_at >= 0 else keep
            return None
        salvage_at, rejected_end = self._salvage_at, self._rejected_end
        self._resync_at = self._salvage_at = self._rejected_end = -1
        self._pos = header
        if salvage_at < 0 or header <= salvage_at or header - salvage_at > self.max_size:
            return None  # nothing, or too long to be one lost message (as when it comes in parts)
        if 0 <= rejected_end <= header and not buf[rejected_end:header].strip(_BLANK):
            return None  # the rejected body was framed right; it just is not JSON
        body = bytes(buf[salvage_at:header]).strip(_BLANK)
        return Frame(body, salvaged=True) if body else None

    def _need_data(self) -> NeedData | FrameError | Eof:
        if self._eof:
            return self._at_eof()
        self._last_body = (-1, -1)  # no reject() once more data is needed
        shift = self._pos
        if shift:
            # bytearray deletes from the front without moving the tail (CPython keeps an
            # offset), and this runs once per chunk, not once per frame.
            del self._buf[:shift]
            self._pos = 0
            if self._resync_at >= 0:
                self._resync_at -= shift
            if self._salvage_at >= 0:
                self._salvage_at -= shift
            if self._rejected_end >= 0:
                self._rejected_end -= shift
        if not self._buf and self._grown:
            self._buf = bytearray()  # give a large emptied buffer's memory back
            self._grown = False
        return NEED_DATA

    def _at_eof(self) -> FrameError | Eof:
        if self._done:
            return EOF
        self._done = True
        leftover = bytes(self._buf[self._pos :])
        self._buf = bytearray()
        self._pos = 0
        if self._skip or self._resync_at >= 0:
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
