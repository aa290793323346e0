"""The running proxy: stdin/stdout, backend processes, timers and signals around the Router.

Every event is handed to the router synchronously and the resulting actions are executed at
once; none of them awaits. Slow things (spawning, stopping) run as their own tasks.

The short path: a chunk read from stdin (or from a backend's stdout) is decoded, routed and
its frames written to their pipes in the one callback that read it; the frames of a chunk
are held in a `Batch` and go out with one write per stream at its end, and the timer is
re-armed then too. A request and its answer thus cost two event-loop iterations: one when
the request is read, one when the answer is.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.backends import capabilities_cache, client_capabilities, get_kind
from typemux.backends.base import BackendKind
from typemux.backends.locate import CommandNotFound, resolve_command
from typemux.core.actions import (
    Action,
    CapabilitiesLearned,
    Exit,
    PoolChanged,
    ReadProjectConfig,
    Spawn,
    Stop,
    ToBackend,
    ToClient,
)
from typemux.core.lifecycle import LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.log import get_logger
from typemux.runtime import project_config
from typemux.runtime.backend_process import BackendProcess
from typemux.runtime.deadline_timer import DeadlineTimer
from typemux.runtime.descendants import kill_marked, owner_prefix
from typemux.runtime.identity import CHECK_INTERVAL, IdentityChecks
from typemux.runtime.memory import group_rss
from typemux.runtime.prewarm import prewarm
from typemux.runtime.state_report import StateReport
from typemux.runtime.statefile import proxy_state
from typemux.runtime.trace import NoTrace, open_trace
from typemux.runtime.watcher import Change, ProjectWatcher, read_source
from typemux.settings_table import ServeSettings as Settings
from typemux.venv import VenvResolver
from typemux.wire.endpoint import EOF, Endpoint, Incoming, Malformed
from typemux.wire.streams import InputReader, connect_stdio
from typemux.wire.writer import Batch, FrameWriter

log = get_logger("typemux.proxy")


HEARTBEAT = 2.0  # memory sampling and state-file refresh (idle times, RSS)


def stopping_allowance(max_backends: int) -> int:
    """How many backends may still be leaving (grace + kill) while the pool is full."""
    return max_backends


# At the end, what already waits in stdin is read and answered up to this much: a pipe
# holds 64 KiB by default (1 MiB at most unless root raises it), so this covers a full
# pipe and what a client keeps writing meanwhile, and ends even if it never stops.
FINAL_READ_BYTES = 4 * 2**20
FINAL_READ_SECONDS = 5.0


class Proxy:
    def __init__(self, settings: Settings, kind: BackendKind, *, cwd: Path) -> None:
        self.settings = settings
        self.kind = kind
        self.cwd = cwd
        self.started_at = time.time()
        self._epoch_offset = self.started_at - time.monotonic()
        try:
            argv = resolve_command(list(settings.command_argv or kind.command))
        except CommandNotFound:
            # Start anyway: the client gets an initialize answer and clear errors per request.
            argv = list(settings.command_argv or kind.command)
        self._cache_key = capabilities_cache.version_key(kind.name, argv)
        cached = capabilities_cache.load(self._cache_key) if self._cache_key else None
        if cached is not None:
            # What this very backend version advertised last time, not the recorded table.
            kind = dataclasses.replace(kind, capabilities=client_capabilities(cached))
            self.kind = kind
        self.resolver = VenvResolver(environments=settings.environments)
        self.router = Router(
            RouterSettings(
                LifecycleSettings(
                    argv=argv,
                    max_backends=settings.max_backends,
                    backend_ttl=settings.backend_ttl,
                    warmup_timeout=settings.warmup_timeout,
                    handshake_timeout=settings.handshake_timeout,
                    pid=os.getpid(),
                    hang_timeout=settings.hang_timeout,
                ),
                fanout_timeout=settings.fanout_timeout,
                fallback_venv=None,  # found after initialize is answered (_start_up)
                document_idle_close=settings.document_idle_close,
                document_idle_close_clients=settings.document_idle_close_clients,
                backend_settings=settings.backend_settings.get(kind.name, {}),
            ),
            kind,
            self.resolver,
            log=self._log_event,
        )
        self.router.sync.reader = read_source
        self.processes: dict[int, BackendProcess] = {}
        self._identities = IdentityChecks()  # the core stats nothing: venvs are looked at here
        self._venv_checked = self.router.venv_checked  # bound once: it is passed per event
        # Backend processes alive at once (the pool's + those being stopped) never exceed
        # this: a spawn waits for a stopped process to be gone. Stopped while it waits, it
        # never forks. Under churn (many venvs, a small pool) this is what bounds memory.
        self._spawn_slots = asyncio.Semaphore(
            settings.max_backends + stopping_allowance(settings.max_backends))
        self._tasks: set[asyncio.Task[Any]] = set()
        # Re-armed at the end of each input chunk and after each other event.
        self._deadlines = DeadlineTimer(self.router.next_deadline, self._on_timer, self._guarded)
        self._exit: asyncio.Future[int] | None = None
        self._client: FrameWriter | None = None
        self._input: InputReader | None = None
        self._stdin = Endpoint(settings.max_message_size)
        self._batch = Batch()  # the frames of the chunk being handled (see _settle)
        self._debug = settings.log_level == "debug"
        self._state = StateReport(self._state_snapshot, self._guarded)
        self._started_up = False
        self.trace = open_trace(settings.trace_dir)
        self._tracing = not isinstance(self.trace, NoTrace)  # no call per message when off
        self._watcher: ProjectWatcher | None = None

    def _log_event(self, event: str, **fields: Any) -> None:
        level = "info" if event.startswith("backend_") or event == "venv_changed" else "debug"
        getattr(log, level)(event, **fields)

    # ----- main ----------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._exit = loop.create_future()
        loop.set_exception_handler(self._loop_exception)
        self._client, self._input = await connect_stdio(
            self._stdin_data, batch=self._batch, on_lost=self._client_lost)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._terminate, sig)
        if self.resolver.asker is not None:  # a tool's answer releases what waits for it
            self.resolver.asker.on_answer = functools.partial(
                _threadsafe, loop, self._guarded, self._environments_answered)
        # Everything else (git, the state file, backends) waits for the initialize answer:
        # see _start_up.
        heartbeat = asyncio.create_task(self._heartbeat(), name="typemux-heartbeat")
        heartbeat.add_done_callback(self._supervise)
        venvs = asyncio.create_task(self._look_at_venvs(), name="typemux-venvs")
        venvs.add_done_callback(self._supervise)
        try:
            code = await self._exit
        finally:
            heartbeat.cancel()
            venvs.cancel()
            self._state.close()
            self.resolver.close()
            if self._watcher is not None:
                await self._watcher.aclose()
        await self._drain_and_stop()
        self.trace.close()
        return code

    # ----- supervision: a failure in a loop typemux depends on ends typemux ------------------
    def _supervise(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._fatal(f"task {task.get_name()} failed", exc)

    def _guarded(self, callback: Callable[[], None]) -> None:
        """Runs typemux's own timer callbacks: one that fails leaves no timer, so a proxy
        that would never time anything out again ends instead."""
        try:
            callback()
        except Exception as exc:
            self._fatal(f"{callback.__name__} failed", exc)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Other callbacks (a backend's pipe protocol) and unwatched tasks: a failure there
        concerns one backend, so it is logged (in the log, not as loose stderr text)."""
        exc = context.get("exception")
        log.error("callback_failed", message=str(context.get("message")),
                  exc_info=exc if isinstance(exc, BaseException) else False)

    def _client_lost(self, why: str) -> None:
        self._fatal(f"the output to the client is lost ({why})")

    def _fatal(self, why: str, exc: BaseException | None = None) -> None:
        """Log, then end as after `exit`: run() stops every backend and returns 1."""
        if self._exit is None or self._exit.done():
            return
        log.error("typemux_failed", why=why, exc_info=exc if exc is not None else False)
        self._exit.set_result(1)

    # ----- state file, memory budget ------------------------------------------------------
    def _state_snapshot(self) -> dict[str, Any] | None:
        if self._exit is not None and self._exit.done():
            return None  # ending: the file is about to be removed
        return proxy_state(
            pid=os.getpid(), cwd=self.cwd, backend_kind=self.kind.name,
            command=list(self.router.lifecycle.settings.argv), started_at=self.started_at,
            max_backends=self.settings.max_backends, max_memory_mb=self.settings.max_memory_mb,
            backends=self.router.pool, epoch_offset=self._epoch_offset,
        )

    def _schedule_state(self) -> None:
        self._state.schedule()

    async def _heartbeat(self) -> None:
        budget = self.settings.max_memory_mb * 2**20
        while True:
            await asyncio.sleep(HEARTBEAT)
            if budget > 0:
                self._sample_memory(budget)
            self._schedule_state()

    async def _look_at_venvs(self) -> None:
        """The pooled venvs are looked at after every event, and also this often: a venv
        removed or rebuilt while the client sends nothing must not keep its backend (and the
        requests in flight there) until the next message."""
        while True:
            await asyncio.sleep(CHECK_INTERVAL / 2)
            if len(self.router.pool):
                self._execute()  # looks at the venvs due, then does what that decided

    def _sample_memory(self, budget: int) -> None:
        sessions = {b.pid: b.session for b in self.router.pool if b.pid is not None}
        # A process group is named by its leader's pid: each backend leads its own group.
        rss = {sessions[pgid]: size for pgid, size in group_rss(sessions).items()}
        self.router.memory_sample(rss, budget, time.monotonic())
        self._execute()

    def _start_up(self) -> None:
        """Once the initialize answer is written: the start-up work clients must not wait
        for (git for the fallback venv, the state file, backends and the watchdog's fork).

        Runs before the next client message is handled, so that message already sees the
        fallback venv and the prewarmed backends.
        """
        self._started_up = True
        self._batch.flush()  # the initialize answer goes to the pipe first
        now = time.monotonic()
        fallback = None
        try:
            found = self.resolver.fallback(self.cwd)
            fallback = found.path if found is not None else None
            self.router.set_fallback(fallback, found.project if found is not None else None)
            self._state.open()
            if found is not None:
                self.router.prewarm(found.path, now, found.project)
            prewarm(self.settings.prewarm, self.resolver, self.router, now,
                    self.settings.max_backends)
            self._start_watcher()
        except Exception:
            log.exception("start_up_failed")  # serve anyway: documents still find their venvs
        log.info("typemux_started", pid=os.getpid(), backend=self.kind.name,
                 command=" ".join(self.router.lifecycle.settings.argv),
                 fallback_venv=str(fallback) if fallback else None,
                 state_file=str(self._state.path) if self._state.path else None)
        self._execute()

    def _stdin_data(self, data: bytes) -> None:
        """A chunk of stdin (b"" at its end): every message in it is routed, then the
        frames it produced are written (one write per stream) and the timer re-armed."""
        try:
            self._batch.begin()
            endpoint = self._stdin
            endpoint.receive_data(data)
            while True:
                item = endpoint.next_event()
                if type(item) is Incoming or type(item) is Malformed:
                    self._client_item(item)
                    if not self._started_up and self.router.lifecycle.client_params is not None:
                        self._start_up()
                    continue
                if item is EOF:
                    self.router.client_eof(time.monotonic())
                    self._execute()
                break  # NEED_DATA: the chunk is handled
            self._settle()
        except Exception as exc:
            self._fatal("the stdin reader failed", exc)

    def _client_item(self, item: Incoming | Malformed) -> None:
        if self._tracing:
            self.trace.from_client(item)
        now = time.monotonic()
        try:
            if type(item) is Incoming:
                if self._debug:
                    log.debug("client_to_proxy", method=item.msg.get("method"), id=item.msg.get("id"))
                self._identities.run(self.router.pool, self._venv_checked, now)
                self.router.client_message(item.msg, item.raw, now)
            else:
                assert isinstance(item, Malformed)
                self.router.client_malformed(item.code, item.reason, item.request_id)
        except Exception:
            # One bad message never stops the proxy.
            log.exception("client_message_failed")
            if isinstance(item, Incoming) and "id" in item.msg and "method" in item.msg:
                self.router.internal_failure(item.msg["id"])
        self._execute(now)

    # ----- files changed behind the client's back ---------------------------------------------
    def _start_watcher(self) -> None:
        """Watch the backends' projects when the client cannot do it for us."""
        if self.router.server_requests.caps.watch_files:
            return  # its didChangeWatchedFiles are used: nothing is watched twice
        self._watcher = ProjectWatcher(self._files_changed, self.router.open_paths)
        self._watcher.start()
        self._watcher.set_roots(self.router.watched_roots())

    def _files_changed(self, changes: list[Change], texts: dict[str, str | None]) -> None:
        log.debug("files_changed", count=len(changes), open_documents=len(texts))
        try:
            self.router.files_changed(changes, texts, time.monotonic())
        except Exception:
            log.exception("files_changed_failed")
        self._execute()

    def _terminate(self, sig: signal.Signals) -> None:
        self.router.terminate(time.monotonic(), sig.name)
        self._execute()

    def _environments_answered(self) -> None:
        self.router.environments_answered(time.monotonic())
        self._execute()

    # ----- events from backends --------------------------------------------------------------
    def _backend_message(self, session: int, msg: jsonrpc.Message, raw: bytes) -> None:
        self._batch.begin()  # ended by _settle once the backend's chunk is handled
        if self._tracing:
            self.trace.from_backend(session, msg, raw)
        if self._debug:
            log.debug("backend_to_proxy", session=session, method=msg.get("method"), id=msg.get("id"))
        now = time.monotonic()
        try:
            self.router.backend_message(session, msg, raw, now)
        except Exception:
            log.exception("backend_message_failed", session=session)
        self._execute(now)

    def _backend_oversize(self, session: int, request_id: jsonrpc.RequestId, size: int) -> None:
        self._batch.begin()  # ended by _settle once the backend's chunk is handled
        try:
            self.router.backend_oversize(session, request_id, size,
                                         self.settings.max_message_size, time.monotonic())
        except Exception:
            log.exception("backend_message_failed", session=session)
        self._execute()

    def _backend_gone(self, session: int, why: str) -> None:
        self.router.backend_exited(session, why, time.monotonic())
        self._execute()

    # ----- actions -----------------------------------------------------------------------------
    def _execute(self, now: float | None = None) -> None:
        """Carry out the router's actions; `now`: the time of the event that produced them."""
        # A venv is looked at as soon as its backend is pooled, then at most once a second.
        self._identities.run(self.router.pool, self._venv_checked,
                             time.monotonic() if now is None else now)
        do = self._do
        for action in self.router.take_actions():
            do(action)
        if not self._batch.open:
            self._arm_timer()

    def _settle(self) -> None:
        """The end of a chunk's callback: write what its messages produced, re-arm (a
        backend's stdout calls it itself: see _spawn)."""
        try:
            self._batch.end()
            self._deadlines.arm()
        except Exception as exc:
            self._fatal("_settle failed", exc)

    def _do(self, action: Action) -> None:
        # Messages first, by exact type (no subclasses): one of them is in every event.
        if type(action) is ToBackend:
            proc = self.processes.get(action.session)
            if proc is not None:
                if self._debug:
                    log.debug("proxy_to_backend", session=action.session,
                              method=action.msg.get("method"), id=action.msg.get("id"))
                if self._tracing:
                    self.trace.to_backend(action.session, proc.venv, action.msg, action.raw)
                proc.send(action.msg, action.raw)
        elif type(action) is ToClient:
            if self._debug:
                log.debug("proxy_to_client", method=action.msg.get("method"), id=action.msg.get("id"))
            assert self._client is not None
            if self._tracing:
                self.trace.to_client(action.msg, action.raw)
            self._client.send(action.msg, action.raw)
        elif isinstance(action, Spawn):
            self._spawn(action)
        elif isinstance(action, Stop):
            proc = self.processes.pop(action.session, None)
            if proc is not None:
                self._background(proc.stop(action.graceful, action.grace))
        elif isinstance(action, Exit):
            if self._exit is not None and not self._exit.done():
                self._exit.set_result(action.code)
        elif isinstance(action, CapabilitiesLearned):
            if self._cache_key is not None:
                key, argv = self._cache_key, list(self.router.lifecycle.settings.argv)
                self._background(asyncio.to_thread(
                    capabilities_cache.store, key, self.kind.name, argv,
                    action.capabilities, action.server_info))
        elif isinstance(action, ReadProjectConfig):
            config = project_config.read(self.kind.name, action.project)
            self.router.project_config_read(action.ticket, config, time.monotonic())
            self._execute()  # its answer goes now, in this action's place
        elif isinstance(action, PoolChanged):
            self._schedule_state()
            if self._watcher is not None:
                self._watcher.set_roots(self.router.watched_roots())

    def _spawn(self, action: Spawn) -> None:
        if self._exit is not None and self._exit.done():
            log.info("spawn_refused", session=action.session, why="typemux is exiting")
            return
        proc = BackendProcess(
            action.session, action.venv,
            max_message_size=self.settings.max_message_size,
            on_message=self._backend_message, on_gone=self._backend_gone,
            on_oversize=self._backend_oversize,
            batch=self._batch, on_settled=self._settle,
        )
        self.processes[action.session] = proc

        async def start() -> None:
            try:
                await proc.start(action.argv, action.env, action.cwd, self._spawn_slots)
            except (OSError, ValueError) as exc:
                self.processes.pop(action.session, None)
                self.router.backend_spawn_failed(action.session, str(exc), time.monotonic())
                self._execute()
                return
            if proc.stop_requested:
                return  # stopped while spawning: its stop task owns (and ends) it
            assert proc.pid is not None
            self.router.backend_spawned(action.session, proc.pid)
            log.info("backend_process", session=action.session, pid=proc.pid, venv=str(action.venv))
            self._schedule_state()  # `typemux status` lists the pid as soon as it exists
            self._execute()

        self._background(start())

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _arm_timer(self) -> None:
        self._guarded(self._deadlines.arm)

    def _on_timer(self) -> None:
        self.router.timer(time.monotonic())
        self._execute()

    async def _drain_and_stop(self) -> None:
        """After exit: let stops finish (grace + kill), flush what the client is owed."""
        for session, proc in list(self.processes.items()):
            self.processes.pop(session, None)
            self._background(proc.stop(False, 0))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        # Whatever is left of any backend (a setsid'd descendant, a stop that timed out).
        killed = await asyncio.to_thread(kill_marked, owner_prefix())
        if killed:
            log.info("descendants_killed", count=killed)
        self._answer_waiting_input()
        if self._client is not None:
            await self._client.aclose()  # flushes every answer (CLOSE_TIMEOUT at most)

    def _answer_waiting_input(self) -> None:
        """The last read of the client: stop reading, then answer (as the router answers
        after the end) the requests already in the pipe, without waiting for more and
        within FINAL_READ_BYTES / FINAL_READ_SECONDS. Nothing is read after this, so every
        request typemux read is answered before stdout is closed."""
        if self._input is None or self._input.stopped:
            return
        self._input.stop()
        read = self._input.read_waiting(FINAL_READ_BYTES, time.monotonic() + FINAL_READ_SECONDS)
        if read:
            log.info("client_input_drained", bytes=read)


def _threadsafe(loop: asyncio.AbstractEventLoop, *call: Any) -> None:
    """Schedule `call` on `loop` from another thread; nothing once the loop has closed."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(*call)


async def serve(settings: Settings, *, cwd: Path | None = None) -> int:
    kind = get_kind(settings.backend, settings.command_argv)
    proxy = Proxy(settings, kind, cwd=cwd or Path.cwd())
    return await proxy.run()
