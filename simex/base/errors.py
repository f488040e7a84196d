"""The package's error base: every error simex raises on purpose derives from `SimexError`.

`simex` (the command) catches `SimexError` alone and prints it in one line with exit status
1 (unusable data, fleet or config); any other exception is a bug and keeps its traceback.
The subclasses also derive from the builtin they replace (ValueError, RuntimeError), so
code that caught those still does.
"""

from __future__ import annotations

from typing import Iterable


class SimexError(Exception):
    """An input, config, fleet or artifact that simex refuses, with a message naming it."""


def below_minimum(limits: Iterable[tuple[str, float, float]]) -> list[str]:
    """``"NAME must be at least LOW, got VALUE"`` for every (name, value, low) whose value is below low."""
    return [f"{name} must be at least {low}, got {value}" for name, value, low in limits if value < low]
