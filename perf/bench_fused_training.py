"""Benchmark of fused fleet training (issue 12): prints figures, asserts nothing.

    .venv/bin/python perf/bench_fused_training.py [--data results/data/M/train.npz] [--device cuda]

Trains one autoencoder per class (10 by default, the per-class fleet of a dataset) two
ways, with the same seeds, data and settings: one after another through
``simex.training.autoencoders.train_autoencoder`` (what one job per class did), and all at once through
``simex.training.autoencoders.train_autoencoders`` (the fused trainer, one job per fleet). Prints the
throughput of each, in samples x members per second (every sample seen in every epoch,
summed over the members), and their ratio. Rounds alternate between the two, so that a
machine shared with other work affects both sides of the ratio alike. Without ``--data``
the members train on synthetic digit-like images, ``--per-class`` of each class.
Process and torch start-up, which one job per member also paid, are not counted.

Besides wall time it prints each side's process CPU time (all threads): on a machine
shared with other work the CPU time is the steadier figure. It also prints how close each
side comes to the hardware: the training FLOPs of one sample (forward and backward of the
plain autoencoder and its loss, counted by ``torch.utils.flop_counter``) times the
throughput, against the best fp32 matrix product on the same device and threads
(``simex.experiments.latency.matmul_peak_gflops``). On CUDA the fused trainer
runs twice, as a captured CUDA graph (its default there) and eagerly (``fused-eager``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from simex.training.autoencoders import train_autoencoder, train_autoencoders
from simex.experiments.latency import matmul_peak_gflops
from simex.models.losses import SSIMWindow, per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.training.loop import TrainConfig


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


def training_flops_per_sample(loss: str, window: SSIMWindow, batch_size: int, shape: tuple[int, ...]) -> float:
    """FLOPs of one sample's training step (forward, loss, backward) through the plain autoencoder."""
    from torch.utils.flop_counter import FlopCounterMode

    model, delta = LeNet5AutoEncoder(*shape), per_sample_loss(loss, window)
    images = torch.rand(batch_size, *shape)
    with FlopCounterMode(display=False) as counter:
        delta(images, model(images)).mean().backward()
    return counter.get_total_flops() / batch_size


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

    def fused_eager() -> None:
        train_autoencoders(sets, args.loss, window, configs, device, graph=False)

    def seconds(fn) -> tuple[float, float]:
        """(wall, process CPU) seconds of one call."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started, time.process_time() - cpu_started

    runs = {"sequential": sequential, "fused": fused, **({"fused-eager": fused_eager} if device.type == "cuda" else {})}
    train_autoencoders(sets[:2], args.loss, window, configs[:2], device)  # warm-up: allocator, threads, kernels
    train_autoencoder(sets[0], args.loss, window, configs[0], device)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            times[name].append(seconds(fn))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"{len(sets)} autoencoders ({', '.join(str(len(s)) for s in sets)} samples), {args.loss}, "
          f"{args.epochs} epochs, batch {args.batch_size}, {name}, torch {torch.__version__}; best of {args.rounds}")
    wall = {key: min(w for w, _ in values) for key, values in times.items()}
    cpu = {key: min(c for _, c in values) for key, values in times.items()}
    for key in runs:
        print(f"    {key:<12} {wall[key]:7.2f} s wall {work / wall[key]:9.0f} samples x members / s;"
              f" {cpu[key]:7.2f} s CPU")
    flops = training_flops_per_sample(args.loss, window, args.batch_size, (1, *sets[0].shape[1:]))
    peak = matmul_peak_gflops(device)
    print(f"    training FLOPs a sample {flops / 1e6:.2f} M (plain model, counted); best fp32 matrix product "
          f"{peak:.0f} GFLOP/s on the same device and threads")
    for key in runs:
        rate = flops * work / wall[key] / 1e9
        print(f"    {key:<12} {rate:7.1f} GFLOP/s, {rate / peak:.0%} of the matrix-product rate")
    for key in runs:
        if key != "sequential":
            print(f"    {key} / sequential: {wall['sequential'] / wall[key]:.2f}x by wall time, "
                  f"{cpu['sequential'] / cpu[key]:.2f}x by CPU time")


if __name__ == "__main__":
    main()
