"""SimEx: express prediction of inter-dataset similarity by a fleet of autoencoders."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Fleet", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import simex` (and `simex --help`) does not pay for importing torch.
    if name == "Fleet":
        from simex.fleets.rank import Fleet

        return Fleet
    raise AttributeError(f"module 'simex' has no attribute {name!r}")
