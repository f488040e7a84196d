"""Benchmark of §5.2's pairwise latency at a realistic size (issue 6): prints, asserts nothing.

    .venv/bin/python perf/bench_latency.py [--samples 10000] [--reference M] [--unknown F]

One pairwise comparison of an unknown dataset (``--samples`` samples of its ten classes,
drawn from its train and test splits, with replacement when they hold fewer) against one
reference dataset, measured in one process, warm, interleaved over ``--repeats``:

- SimEx: every sample through A(reference) (the pipeline's ``results/models/ae/dataset``
  checkpoint, or an untrained one of the same architecture: the cost does not depend on
  the weights), δ and Δ included, via simex.experiments.latency.PairwiseSimEx (fast path) and, for
  comparison, the plain path (model forward + δ, simex.inference.evaluate.plain_errors);
- TL-1: B(reference) (``results/models/clf/seed0/base``, or a quickly trained one, untimed)
  with frozen convolutions, FC layers retrained with RMSprop 1e-3, batch 32, 20 % held out
  for validation each epoch, patience 3; the time until the epoch of minimum validation
  loss (simex.training.loop.train's elapsed_s).

Prints the ratio TL-1 / SimEx, samples/s per autoencoder, the fraction of the fp32 peak
(best rate of a 1024x1024 fp32 matrix product measured in this process, same threads),
and where the time goes on both sides.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch

from simex.data.acquire import load_split
from simex.experiments.latency import (OptimizerSetting, PairwiseSimEx, Stopwatch, autoencoder_flops, hardware,
                           matmul_peak_gflops, transfer_run)
from simex.models.losses import SSIMWindow, per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.inference.evaluate import plain_errors
from simex.training.loop import images_to_tensor
from simex.experiments.transfer import first_classes

REPO = Path(__file__).resolve().parents[1]
TL1 = OptimizerSetting("TL-1", "rmsprop", 1e-3)
TRANSFER = {"batch_size": 32, "patience": 3, "validation_fraction": 0.2}


def unknown_samples(code: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [first_classes(*load_split(REPO / f"results/data/{code}/{split}.npz")) for split in ("train", "test")]
    images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    rng = np.random.default_rng(seed)
    index = rng.permutation(len(images))[:n] if len(images) >= n else rng.integers(0, len(images), n)
    return images[index], labels[index]


def reference_models(code: str, loss: str, device: torch.device):
    from simex.training.autoencoders import load_autoencoder
    from simex.training.loop import TrainConfig
    from simex.base.artifacts import load_classifier
    from simex.experiments.transfer import BASE_CLASSIFIER, StageSettings, TransferError, train_base_classifier

    ae_path = REPO / f"results/models/ae/dataset/{code}/{loss}.pt"
    autoencoder = load_autoencoder(ae_path, device)[0] if ae_path.is_file() else LeNet5AutoEncoder().to(device).eval()
    clf_path = REPO / f"results/models/clf/seed0/base/{code}.pt"
    if clf_path.is_file():
        base = load_classifier(clf_path, BASE_CLASSIFIER, TransferError, device)[0]
    else:
        images, labels = first_classes(*load_split(REPO / f"results/data/{code}/train.npz"))
        base = train_base_classifier(images, labels, StageSettings(TrainConfig("rmsprop", 1e-3, 3, 32, 0), 0.0), device)[0]
    return autoencoder, base, ae_path.is_file(), clf_path.is_file()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--reference", default="M")
    parser.add_argument("--unknown", default="F")
    parser.add_argument("--loss", default="issim", choices=["issim", "mse"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    window = SSIMWindow.default()
    images, labels = unknown_samples(args.unknown, args.samples, args.seed)
    autoencoder, base, trained_ae, trained_clf = reference_models(args.reference, args.loss, device)
    print(f"{hardware(device)}; device {device}")
    print(f"unknown {args.unknown}: {len(images)} samples; reference {args.reference}: "
          f"A({args.reference}) {'trained' if trained_ae else 'untrained (same cost)'}, "
          f"B({args.reference}) {'from the pipeline' if trained_clf else 'quickly trained here'}; δ = {args.loss}")

    watch = Stopwatch(device)
    fast = PairwiseSimEx(autoencoder, args.loss, window, device, args.batch_size)
    delta = per_sample_loss(args.loss, window)
    plain = lambda: float(plain_errors([autoencoder], images_to_tensor(images).to(device), delta,  # noqa: E731
                                       args.batch_size).double().mean())
    fast.delta(images), plain()  # warm
    transfer_run(base, images[:2000], labels[:2000], TL1, TRANSFER, 1, args.seed, device)  # warm
    peak = matmul_peak_gflops(device)
    times = {"SimEx fast": [], "SimEx plain": [], "TL-1": []}
    epochs, per_epoch = [], []
    for repeat in range(args.repeats):
        times["SimEx fast"].append(watch.measure(lambda: fast.delta(images))[1])
        times["SimEx plain"].append(watch.measure(plain)[1])
        run = transfer_run(base, images, labels, TL1, TRANSFER, args.max_epochs, args.seed + repeat, device)
        times["TL-1"].append(run["seconds"])
        epochs.append(run["best_epoch"])
        per_epoch.append(run["seconds_total"] / run["epochs_run"])
        print(f"  repeat {repeat + 1}: SimEx {times['SimEx fast'][-1]:.3f} s (plain {times['SimEx plain'][-1]:.3f} s), "
              f"TL-1 {run['seconds']:.2f} s to epoch {run['best_epoch']} of {run['epochs_run']}")
    peak = max(peak, matmul_peak_gflops(device))
    flops = autoencoder_flops()
    mean = {name: statistics.fmean(values) for name, values in times.items()}

    # where SimEx's time goes: conversion, network, δ (each timed alone, best of 3)
    x = torch.from_numpy(images).to(device).unsqueeze(1).float().div_(255.0)
    evaluator = fast.evaluator

    def best(work) -> float:
        return min(watch.measure(work)[1] for _ in range(3))

    def network_only() -> None:
        saved = evaluator.delta
        evaluator.delta = lambda a, b: b[:, 0, 0, 0]
        try:
            for s in range(0, len(x), args.batch_size):
                evaluator.errors(x[s : s + args.batch_size])
        finally:
            evaluator.delta = saved

    with torch.inference_mode():
        outputs = torch.cat([autoencoder(x[s : s + args.batch_size]) for s in range(0, len(x), args.batch_size)])
    parts = {
        "uint8 -> float": best(lambda: torch.from_numpy(images).to(device).unsqueeze(1).float().div_(255.0)),
        "network (fused)": best(network_only),
        f"δ ({args.loss}, fast)": best(lambda: [fast.evaluator.delta(x[s : s + args.batch_size], outputs[s : s + args.batch_size])
                                              for s in range(0, len(x), args.batch_size)]),
        f"δ ({args.loss}, per_sample_loss)":
            best(lambda: [delta(x[s : s + args.batch_size], outputs[s : s + args.batch_size]) for s in range(0, len(x), args.batch_size)]),
    }

    rate = len(images) / mean["SimEx fast"]
    print(f"\nSimEx, fast path: {mean['SimEx fast']:.3f} s (min {min(times['SimEx fast']):.3f}, max {max(times['SimEx fast']):.3f}); "
          f"plain path {mean['SimEx plain']:.3f} s ({mean['SimEx plain'] / mean['SimEx fast']:.2f}x slower)")
    print(f"TL-1: {mean['TL-1']:.2f} s (min {min(times['TL-1']):.2f}, max {max(times['TL-1']):.2f}) to the minimum validation "
          f"loss at epoch {statistics.fmean(epochs):.1f} (mean); {statistics.fmean(per_epoch):.3f} s per epoch")
    print(f"\nspeed-up TL-1 / SimEx: {mean['TL-1'] / mean['SimEx fast']:.1f}x (plain SimEx path: "
          f"{mean['TL-1'] / mean['SimEx plain']:.1f}x; paper: 10.5x on a GTX 1080 Ti)")
    print(f"SimEx throughput: {rate:,.0f} samples/s per autoencoder = {rate * flops / 1e9:.2f} GFLOP/s of model work "
          f"({flops / 1e6:.3f} MFLOP per sample, convs + linear, δ not counted) = {rate * flops / 1e9 / peak:.1%} of the "
          f"fp32 peak {peak:.1f} GFLOP/s (best 1024x1024 fp32 matmul, same process and {torch.get_num_threads()} threads)")
    print("where SimEx's time goes (each part alone, best of 3):")
    for name, seconds in parts.items():
        print(f"  {name:<28} {seconds:.3f} s")


if __name__ == "__main__":
    main()
