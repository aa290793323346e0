"""Real-backend end-to-end tests.

A package, so that `tests/real/conftest.py` is imported as `real.conftest` and never takes
over the bare name `conftest` that other test modules import helpers from.
"""
