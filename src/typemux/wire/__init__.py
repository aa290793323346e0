"""The wire layer: LSP base-protocol framing, JSON bodies, and the pipes they travel on.

Sans-IO: `framing` (Content-Length frames, resynchronisation), `codec` (bodies to plain
dicts and back), `messages` (bodies to JSON-RPC messages, large answers read envelope
first), `endpoint` (one stream: bytes in → messages out, a message out → a frame), `outbox`
(what waits for a slow client). asyncio: `writer` (frames to a pipe, with its flow
control) and `streams` (the client's stdio).
"""
