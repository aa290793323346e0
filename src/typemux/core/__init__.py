"""The sans-IO heart of typemux: routing decisions, with no pipes, processes or clocks.

`Router` takes messages and events and emits actions (see `actions`); the runtime executes
them. Unit tests drive it with plain dicts and an explicit `now`.
"""
