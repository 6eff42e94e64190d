"""The kernel: events, the bus, clocks, the config base and its error formatting.

It imports nothing of tradingd's own; every other package builds on it
(``core <- models, state <- strategies, brokers <- daemon <- dashboard``, enforced by the
import-linter contract in ``pyproject.toml``).
"""
