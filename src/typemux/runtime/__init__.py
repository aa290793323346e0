"""I/O: processes, pipes, signals and timers around the sans-IO router."""
