"""Checks of the config's ``latency`` section (§5.2) and the schedules' file names.

Torch-free on purpose: rules/latency.smk runs them while Snakemake parses the rules, and
a no-op rerun must not pay for importing torch.
"""

from __future__ import annotations

from typing import Any, Mapping


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """What is inconsistent in the ``latency`` section given the rest of the config."""
    section, datasets, losses = config["latency"], list(config["datasets"]), list(config["losses"])
    problems = [f"latency.{key} = {section[key]} is not among datasets {datasets}"
                for key in ("reference", "unknown") if section[key] not in datasets]
    if section["reference"] == section["unknown"]:
        problems.append("latency.reference and latency.unknown must differ")
    problems += [f"latency.losses: {loss} is not among the trained losses {losses}"
                 for loss in section["losses"] if loss not in losses]
    problems += [f"latency.training_time.base_datasets: {code} is not among datasets {datasets}"
                 for code in section["training_time"]["base_datasets"] if code not in datasets]
    if not any(entry["name"] == "TL-1" for entry in section["transfer"]):
        problems.append("latency.transfer needs an entry named TL-1 (the speed-up is TL-1 / SimEx)")
    if float(config["classifier"]["transfer"].get("validation_fraction", 0)) <= 0:
        problems.append("classifier.transfer.validation_fraction must be > 0: TL-k stop at the minimum validation loss")
    if float(config["classifier"]["base"].get("validation_fraction", 0)) <= 0:
        problems.append("classifier.base.validation_fraction must be > 0: BT-k stop at the minimum validation loss")
    slugs = [schedule_slug(entry) for entry in section["training_time"]["schedules"]]
    if len(set(slugs)) != len(slugs):
        problems.append(f"latency.training_time.schedules: two schedules share optimizer and lr ({slugs})")
    return problems


def schedule_slug(entry: Mapping[str, Any]) -> str:
    """A schedule's file name: optimizer and learning rate, e.g. ``rmsprop-0.0002``."""
    return f"{entry['optimizer']}-{float(entry['lr']):g}"
