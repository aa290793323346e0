"""Per-message CPU of reading a backend's answer and framing it for the client.

    .venv/bin/python bench/decode_cost.py [--rounds 5]

For answers of ~1 KB (a hover), ~100 KB and ~1 MB (a references answer of ~8,000
locations), side by side: "full decode" is what every message cost before envelope-only
reading (the JSON decoded into Python objects, then validated), "envelope" is what a backend
stream does now (`Endpoint(lazy=True)`: the envelope and the structural checks of
wire/messages.py, the body kept as bytes). Both include the framing in and out. CPU time
(process_time), median of --rounds rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from typemux.wire.endpoint import Endpoint
from typemux.wire.framing import encode_frame
from typemux.wire.messages import Incoming


def answer(size: int) -> bytes:
    if size <= 2048:
        return json.dumps({"jsonrpc": "2.0", "id": 7, "result": {"contents": {
            "kind": "markdown", "value": "```python\ndef f(x: int) -> int\n```\n" + "d" * 900}}}
        ).encode()
    locations: list[dict[str, object]] = []
    body = b""
    while len(body) < size:
        locations.extend({"uri": f"file:///home/u/project/src/pkg/module_{i % 60}.py",
                          "range": {"start": {"line": i, "character": 4},
                                    "end": {"line": i, "character": 16}}}
                         for i in range(len(locations), len(locations) + 500))
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "result": locations}).encode()
    return body


def per_message(body: bytes, lazy: bool, rounds: int) -> float:
    frame = encode_frame(body)
    count = max(3, min(2000, 2_000_000 // len(body)))
    samples = []
    for _ in range(rounds):
        endpoint = Endpoint(64 * 2**20, lazy=lazy)
        start = time.process_time()
        for _ in range(count):
            endpoint.receive_data(frame)
            item = endpoint.next_event()
            assert isinstance(item, Incoming)
            Endpoint.frame(item.msg, item.raw)  # forwarded unchanged: header + the raw body
            _ = "method" in item.msg, item.msg.get("id")  # what the router reads of it
        samples.append((time.process_time() - start) / count)
    return statistics.median(samples)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    ns = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    for label, size in (("1 KB hover answer", 1000), ("100 KB references answer", 100_000),
                        ("1 MB references answer", 1_000_000)):
        body = answer(size)
        full, envelope = per_message(body, False, ns.rounds), per_message(body, True, ns.rounds)
        rows.append((f"{label} ({len(body):,} B)", fmt(full), fmt(envelope),
                     f"{full / envelope:.1f}x"))
    print("| backend answer → client | full decode | envelope only | saved |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
