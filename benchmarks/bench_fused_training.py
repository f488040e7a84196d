"""Benchmark of fused fleet training (issue 12): prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_fused_training.py [--data results/data/M/train.npz] [--device cuda]

Trains one autoencoder per class (10 by default, the per-class fleet of a dataset) two
ways, with the same seeds, data and settings: one after another through
``simex.autoencoders.train_autoencoder`` (what one job per class did), and all at once through
``simex.autoencoders.train_autoencoders`` (the fused trainer, one job per fleet). Prints the
throughput of each, in samples x members per second (every sample seen in every epoch,
summed over the members), and their ratio. Rounds alternate between the two, so that a
machine shared with other work affects both sides of the ratio alike. Without ``--data``
the members train on synthetic digit-like images, ``--per-class`` of each class.
Process and torch start-up, which one job per member also paid, are not counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from simex.autoencoders import train_autoencoder, train_autoencoders
from simex.losses import SSIMWindow
from simex.training import TrainConfig


def synthetic_classes(classes: int, per_class: int, seed: int) -> list[np.ndarray]:
    """Dark images with a bright stroke whose position and angle depend on the class."""
    rng = np.random.default_rng(seed)
    sets = []
    for label in range(classes):
        images = rng.integers(0, 30, size=(per_class, 28, 28)).astype(np.uint8)
        for image, offset in zip(images, rng.integers(-3, 4, size=per_class)):
            row = 4 + 2 * label + offset
            image[max(row, 0) : row + 4, 4:24] = 220
        sets.append(images)
    return sets


def class_sets(path: str | None, classes: int, per_class: int, seed: int) -> list[np.ndarray]:
    if path is None:
        return synthetic_classes(classes, per_class, seed)
    from simex.data.acquire import load_split

    images, labels = load_split(path)
    return [images[labels == label] for label in range(classes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a split (.npz) whose classes the members train on; default: synthetic")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=150, help="synthetic samples per class (the default run's count)")
    parser.add_argument("--loss", default="mse", choices=["mse", "issim"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sets = class_sets(args.data, args.classes, args.per_class, 0)
    config = TrainConfig("rmsprop", 1e-3, args.epochs, args.batch_size, seed=0)
    configs = [dataclasses.replace(config, seed=k) for k in range(len(sets))]
    window = SSIMWindow.default()
    work = sum(len(s) for s in sets) * args.epochs  # samples x members

    def sequential() -> None:
        for images, member in zip(sets, configs):
            train_autoencoder(images, args.loss, window, member, device)

    def fused() -> None:
        train_autoencoders(sets, args.loss, window, configs, device)

    def seconds(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    runs = {"sequential": sequential, "fused": fused}
    for fn in runs.values():  # warm-up: allocator, thread pool, kernel choice
        train_autoencoders(sets[:2], args.loss, window, configs[:2], device) if fn is fused else \
            train_autoencoder(sets[0], args.loss, window, configs[0], device)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            times[name].append(seconds(fn))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"{len(sets)} autoencoders ({', '.join(str(len(s)) for s in sets)} samples), {args.loss}, "
          f"{args.epochs} epochs, batch {args.batch_size}, {name}, torch {torch.__version__}; best of {args.rounds}")
    rates = {key: work / min(values) for key, values in times.items()}
    for key, rate in rates.items():
        print(f"    {key:<10} {min(times[key]):7.2f} s  {rate:9.0f} samples x members / s")
    print(f"    fused / sequential: {rates['fused'] / rates['sequential']:.2f}x")


if __name__ == "__main__":
    main()
