"""workspace/symbol fan-out: one client request, a share per backend, one merged answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typemux import jsonrpc


@dataclass(slots=True)
class Fanout:
    request_id: Any
    method: str
    deadline: float | None
    outstanding: dict[int, Path] = field(default_factory=dict)  # session -> venv
    results: list[Any] = field(default_factory=list)
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    timed_out: list[Path] = field(default_factory=list)

    def collect(self, session: int, response: jsonrpc.Message) -> None:
        venv = self.outstanding.pop(session, None)
        if venv is None:
            return
        if "error" in response:
            err = response.get("error") or {}
            self.failures.append(f"{venv}: {err.get('message', 'error')}")
            return
        self.answered += 1
        value = response.get("result")
        if isinstance(value, list):
            self.results.extend(value)

    def fail(self, session: int, why: str) -> None:
        venv = self.outstanding.pop(session, None)
        if venv is not None:
            self.failures.append(f"{venv}: {why}")

    @property
    def done(self) -> bool:
        return not self.outstanding

    def answer(self) -> jsonrpc.Message:
        """The merged response. An error only when no backend answered at all: one backend
        failing while another found nothing is still an (empty) answer."""
        if self.answered == 0 and (self.failures or self.timed_out):
            reasons = self.failures + [f"{v}: no answer in time" for v in self.timed_out]
            return jsonrpc.proxy_error(
                self.request_id, f"every backend failed for {self.method}: " + "; ".join(reasons)
            )
        return jsonrpc.result(self.request_id, dedupe(self.results))


def _symbol_key(item: Any) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        return None
    location = item.get("location")
    if not isinstance(location, dict):
        return None
    start = (location.get("range") or {}).get("start") or {}
    return (
        location.get("uri"),
        start.get("line"),
        start.get("character"),
        item.get("name"),
        item.get("kind"),
    )


def dedupe(items: list[Any]) -> list[Any]:
    """Drop repeated symbols (same uri, start, name, kind), keeping the first; items that
    cannot be keyed are all kept."""
    seen: set[str] = set()
    out: list[Any] = []
    for item in items:
        key = _symbol_key(item)
        if key is not None:
            text = repr(key)
            if text in seen:
                continue
            seen.add(text)
        out.append(item)
    return out
