"""What the fuzz tests share (issue 29): hypothesis profiles and the property every reader keeps.

The property: an input is read, or refused with a SimexError whose message names the file;
no other exception, no case running longer than ``CASE_SECONDS`` (SIGALRM interrupts a
blocked read too), and no allocation far beyond the file's own size (tracemalloc counts
numpy's and Python's allocations, so a buffer sized from a lying header shows up).

Profiles: ``unit`` (the default; a fixed, derandomized example budget, so that the fuzz
tests take under 30 s together in the unit path) and ``nightly`` (many random examples):
``SIMEX_FUZZ_PROFILE=nightly python -m pytest tests/test_fuzz_*.py --hypothesis-show-statistics``.
"""

from __future__ import annotations

import os
import signal
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Iterator

import contextlib

from hypothesis import HealthCheck, settings

from simex.base.errors import SimexError

CASE_SECONDS = 20
# what a reader may allocate beyond the file: converting uint8 pixels to float32 and to the
# fleet's shape takes a few times the file's size; a buffer sized from a lying header, GBs
ALLOCATION_FACTOR, ALLOCATION_SLACK = 64, 64 << 20

settings.register_profile("unit", max_examples=int(os.environ.get("SIMEX_FUZZ_EXAMPLES", "12")), derandomize=True,
                          database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("nightly", max_examples=int(os.environ.get("SIMEX_FUZZ_EXAMPLES", "1000")), deadline=None,
                          print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("SIMEX_FUZZ_PROFILE", "unit"))


class CaseTimeout(AssertionError):
    pass


@contextlib.contextmanager
def time_limit(seconds: float = CASE_SECONDS) -> Iterator[None]:
    def expire(_signum: int, _frame: Any) -> None:
        raise CaseTimeout(f"the case ran longer than {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def size_on_disk(path: Path) -> int:
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def read_or_refuse(call: Callable[[], Any], path: Path, names: tuple[str, ...] = ()) -> Any:
    """``call()``'s value, or the SimexError it raised, which must name ``path`` (or one of ``names``).

    Anything else fails the property: another exception, a case over CASE_SECONDS, or a
    peak allocation above ALLOCATION_FACTOR × the input's size + ALLOCATION_SLACK."""
    budget = ALLOCATION_FACTOR * size_on_disk(path) + ALLOCATION_SLACK
    tracemalloc.start()
    try:
        with time_limit():
            value: Any = call()
    except SimexError as err:
        value = err
        message = str(err)
        assert any(name in message for name in (str(path), path.name, *names)), \
            f"the error does not name {path}: {message}"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= budget, f"peak allocation {peak} bytes for an input of {size_on_disk(path)} bytes"
    return value
