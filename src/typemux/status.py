"""`typemux status`: the live backend pools of every running typemux of this user."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from typemux.runtime.memory import group_rss
from typemux.runtime.statefile import StateDirError, read_states, state_dir


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.0f} MB"


def collect(now: float | None = None) -> list[dict[str, Any]]:
    """Live proxies with ages computed and each backend's RSS measured now."""
    now = time.time() if now is None else now
    proxies = [p for p in read_states(state_dir()) if _well_formed(p)]
    pids = [b["pid"] for p in proxies for b in p.get("backends", []) if isinstance(b.get("pid"), int)]
    live_rss = group_rss(pids)
    for proxy in proxies:
        proxy["uptime"] = round(now - proxy.get("started_at", now), 3)
        by_state: dict[str, int] = {}
        rss_total = 0
        pending = 0
        for backend in proxy.get("backends", []):
            pid = backend.get("pid")
            if isinstance(pid, int) and pid in live_rss:
                backend["rss"] = live_rss[pid]
            backend["uptime"] = round(now - backend.get("started_at", now), 3)
            backend["idle"] = round(now - backend.get("last_used_at", now), 3)
            by_state[backend["state"]] = by_state.get(backend["state"], 0) + 1
            rss_total += backend.get("rss") or 0
            pending += backend.get("pending_requests", 0)
        proxy["totals"] = {
            "backends": len(proxy.get("backends", [])),
            "by_state": by_state,
            "rss": rss_total,
            "pending_requests": pending,
        }
    return proxies


def _well_formed(proxy: Any) -> bool:
    """A state file `collect` and `render` can read (another version's, or a damaged one,
    is skipped rather than failing the whole command)."""
    if not isinstance(proxy, dict) or not isinstance(proxy.get("pid"), int):
        return False
    backends = proxy.get("backends", [])
    if not isinstance(backends, list):
        return False
    for b in backends:
        if not (isinstance(b, dict) and isinstance(b.get("state"), str)
                and isinstance(b.get("session"), int) and isinstance(b.get("venv"), str)
                and all(isinstance(b.get(k, 0), int | float)
                        for k in ("started_at", "last_used_at", "pending_requests"))):
            return False
    return isinstance(proxy.get("started_at", 0), int | float)


def render(proxies: list[dict[str, Any]]) -> str:
    if not proxies:
        return "no typemux is running"
    out: list[str] = []
    for proxy in proxies:
        totals = proxy["totals"]
        states = ", ".join(f"{n} {s}" for s, n in sorted(totals["by_state"].items())) or "none"
        out.append(
            f"typemux pid {proxy['pid']}  backend {proxy.get('backend')}  "
            f"up {duration(proxy['uptime'])}  cwd {proxy.get('cwd')}"
        )
        out.append(
            f"  {totals['backends']}/{proxy.get('max_backends', '?')} backends ({states}), "
            f"RSS {megabytes(totals['rss'])}"
            + (f" of {proxy['max_memory_mb']} MB" if proxy.get("max_memory_mb") else "")
            + f", {totals['pending_requests']} pending"
        )
        if proxy.get("backends"):
            header = ("SESSION", "PID", "STATE", "UPTIME", "IDLE", "PENDING", "QUEUED", "RSS", "VENV")
            rows = [header] + [
                (str(b["session"]), str(b.get("pid") or "-"), b["state"], duration(b["uptime"]),
                 duration(b["idle"]), str(b.get("pending_requests", 0)), str(b.get("queued", 0)),
                 megabytes(b.get("rss")), b["venv"])
                for b in proxy["backends"]
            ]
            widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
            for row in rows:
                cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
                out.append("    " + "  ".join([*cells, row[-1]]))
        out.append("")
    return "\n".join(out).rstrip("\n")


def run_status(as_json: bool) -> int:
    try:
        proxies = collect()
    except StateDirError as exc:
        print(f"typemux status: {exc}", file=sys.stderr)  # stdout-ok: stderr
        return 1
    if as_json:
        print(json.dumps({"proxies": proxies}, indent=2))  # stdout-ok: the status command, not the server
    else:
        print(render(proxies))  # stdout-ok: the status command
    return 0
