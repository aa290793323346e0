"""The wire layer: LSP base-protocol framing, JSON bodies, and asyncio streams.

`framing` is sans-IO, `codec` turns bodies into plain dicts and back, `streams` moves
frames over pipes without ever blocking the caller.
"""
