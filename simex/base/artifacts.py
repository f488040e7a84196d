"""Atomic artifact writing, checkpoints, and the logging every job shares.

Every artifact is written to a temporary file beside its destination and renamed into
place, so an interrupted job never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from simex.base.errors import SimexError


class ArtifactWriteError(SimexError, OSError):
    """An artifact could not be written (disk full, file too large, no permission); the
    previous file at the destination, if any, is unchanged and no temporary file is left."""


@contextlib.contextmanager
def atomic_path(destination: Path | str) -> Iterator[Path]:
    """A temporary path in the destination's folder, renamed onto it on success.

    When writing fails (an OSError: the disk is full, a size limit is hit), the temporary
    file is removed, the destination keeps its previous content, and ArtifactWriteError
    says so (tests/test_write_faults.py fills a size-limited file to check it)."""
    destination = Path(destination)
    temporary_path: Path | None = None
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=destination.suffix or ".tmp",
                                             dir=destination.parent)
        os.close(handle)
        temporary_path = Path(temporary)
        yield temporary_path
        os.replace(temporary_path, destination)
    except OSError as err:
        if isinstance(err, SimexError):
            raise
        raise ArtifactWriteError(f"cannot write {destination} ({type(err).__name__}: {err}); the previous file, if "
                                 f"any, is unchanged") from err
    finally:
        if temporary_path is not None:
            temporary_path.unlink(missing_ok=True)


def write_text(destination: Path | str, text: str) -> None:
    with atomic_path(destination) as temporary:
        temporary.write_text(text)


def write_json(destination: Path | str, payload: Any) -> None:
    write_text(destination, json.dumps(payload, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text())


def write_npz(destination: Path | str, **arrays: np.ndarray) -> None:
    with atomic_path(destination) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def write_csv(destination: Path | str, frame: Any, **kwargs: Any) -> None:
    with atomic_path(destination) as temporary:
        frame.to_csv(temporary, **kwargs)


# The PNG text chunk that holds what a saved figure shows (figure_contents), for tests and readers
FIGURE_CONTENTS_KEY = "simex:contents"


def figure_contents(figure: Any) -> dict[str, Any]:
    """What a matplotlib figure shows, as plain data: per panel (visible axes, colorbars left out)
    its title, axis labels, categorical tick labels and legend entries; and the figure's own texts."""
    panels = []
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>" or not ax.axison or not ax.get_visible():
            continue
        ticks = {axis: [tick.get_text() for tick in getattr(ax, f"get_{axis}ticklabels")()] for axis in ("x", "y")}
        legend = ax.get_legend()
        panels.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                       # tick labels set as text (categories); numeric ones are only drawn at saving
                       **{f"{axis}ticks": labels if any(labels) else [] for axis, labels in ticks.items()},
                       "legend": [text.get_text() for text in legend.get_texts()] if legend else []})
    texts = [text.get_text() for text in figure.texts]
    if getattr(figure, "_suptitle", None) is not None:
        texts.insert(0, figure._suptitle.get_text())
    legends = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    return {"panels": panels, "texts": texts, "legend": legends}


def save_figure(destination: Path | str, figure: Any) -> None:
    """``figure`` written atomically; a PNG carries :func:`figure_contents` in a text chunk
    (:func:`read_figure_contents`), so what it shows can be checked without looking at it."""
    kind = Path(destination).suffix.lstrip(".")
    metadata = {FIGURE_CONTENTS_KEY: json.dumps(figure_contents(figure), ensure_ascii=False)} if kind == "png" else None
    with atomic_path(destination) as temporary:
        figure.savefig(temporary, dpi=150, bbox_inches="tight", format=kind, metadata=metadata)


def read_figure_contents(path: Path | str) -> dict[str, Any]:
    """What a PNG :func:`save_figure` wrote shows (:func:`figure_contents`)."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text[FIGURE_CONTENTS_KEY])


def setup_logging(log_file: Path | str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Log to the job's log file (and stderr) with timestamps."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return logging.getLogger("simex")


def save_checkpoint(destination: Path | str, architecture: str, state_dict: Any, **fields: Any) -> None:
    """A model's weights with its architecture name and metadata, written atomically."""
    import torch

    with atomic_path(destination) as temporary:
        torch.save({"architecture": architecture, "state_dict": state_dict, **fields}, temporary)


def load_checkpoint(path: Path | str, kind: str, architectures: set[str], error: type[Exception],
                    device: Any = "cpu") -> dict[str, Any]:
    """The payload of a ``kind`` checkpoint of one of ``architectures``; ``error`` names what is wrong."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {kind} file")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt file
        raise error(f"{path}: not a readable {kind} checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("architecture") not in architectures:
        raise error(f"{path}: not a {kind} checkpoint (architecture {' or '.join(sorted(architectures))})")
    return payload


def save_classifier(destination: Path | str, architecture: str, model: Any, classes: Sequence[int],
                    metadata: Mapping[str, Any]) -> None:
    """A classifier checkpoint: weights, architecture, the dataset classes its outputs stand for, metadata."""
    save_checkpoint(destination, architecture, model.state_dict(), classes=[int(c) for c in classes],
                    metadata=dict(metadata))


def load_classifier(path: Path | str, builders: Mapping[str, Callable[[int], Any]], error: type[Exception],
                    device: Any = "cpu") -> tuple[Any, list[int], dict[str, Any]]:
    """(model in eval mode on ``device``, its classes, metadata) of a :func:`save_classifier` file.

    ``builders`` maps each architecture the caller accepts to a function building it with
    a given number of outputs; ``error`` names what is wrong with a missing or foreign file.
    """
    payload = load_checkpoint(path, "classifier", set(builders), error, device)
    classes = [int(c) for c in payload["classes"]]
    model = builders[payload["architecture"]](len(classes))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), classes, payload["metadata"]
