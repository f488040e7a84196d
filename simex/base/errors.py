"""The package's error base: every error simex raises on purpose derives from `SimexError`.

`simex` (the command) catches `SimexError` alone and prints it in one line with exit status
1 (unusable data, fleet or config); any other exception is a bug and keeps its traceback.
The subclasses also derive from the builtin they replace (ValueError, RuntimeError), so
code that caught those still does.
"""

from __future__ import annotations


class SimexError(Exception):
    """An input, config, fleet or artifact that simex refuses, with a message naming it."""
