"""Benchmark of `simex rank` (issue 8): prints figures, asserts nothing.

    .venv/bin/python perf/bench_rank.py [--fleet results/fleets/dataset/mse] [--tl-bases 5]

Measured in one run, interleaved, so that a CPU shared with other jobs affects both sides
of every ratio alike:
1. fleet throughput (sample·autoencoder evaluations per second, δ included) of the fused
   evaluator vs the plain loop over the fleet's models one after another (and torch.vmap
   over stacked models, for the record), and the fraction of a large fp32 matrix
   product's measured FLOP rate that each reaches (FLOPs of one autoencoder pass counted
   from the model with torch.utils.flop_counter);
2. ranking 10,000 samples against the fleet (full pass with bootstrap, and express mode)
   vs the TL-1 transfer-learning baseline on the same samples (LeNet-5 base classifier
   per reference dataset, convolutions frozen, FC layers retrained with RMSprop 1e-3,
   validation each epoch, time until the epoch of minimum validation loss, as §5.2);
3. express-mode top-1 agreement with the full pass over held-out trials (test splits,
   single datasets and random two-dataset mixtures).
Needs the default run's fleet and data: `snakemake --cores 2 -- results/fleets/dataset/mse`;
with ``--untrained K`` it measures only [1], on K untrained autoencoders and random images
(the cost does not depend on the weights).
"""

from __future__ import annotations

from dataclasses import replace

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from simex.data.acquire import load_split
from simex.models.networks import LeNet5AutoEncoder
from simex.inference.evaluate import FleetEvaluator, batched, plain_errors
from simex.models.losses import per_sample_loss
from simex.fleets.rank import Fleet, RankSettings

REPO = Path(__file__).resolve().parents[1]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def matmul_gflops(size: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    return 2 * size**3 / min(timed(lambda: a @ b) for _ in range(reps)) / 1e9


def flops_per_pass() -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        LeNet5AutoEncoder()(torch.zeros(1, 1, 28, 28))
    return int(counter.get_total_flops())


def vmap_errors(models, x: torch.Tensor, loss: str, batch_size: int) -> torch.Tensor:
    from torch.func import functional_call, stack_module_state

    from simex.models.losses import per_sample_loss

    params, buffers = stack_module_state(list(models))
    base = LeNet5AutoEncoder().to("meta")
    delta = per_sample_loss(loss)

    def one(p, b, batch):
        return delta(batch, functional_call(base, (p, b), (batch,)))

    with torch.inference_mode():
        return torch.cat([torch.vmap(one, in_dims=(0, 0, None))(params, buffers, x[s : s + batch_size]).T
                          for s in range(0, len(x), batch_size)])


def throughput(models, loss: str, x: torch.Tensor, batch_size: int, reps: int, with_vmap: bool) -> dict[str, float]:
    k = len(models)
    delta = per_sample_loss(loss)
    fused = FleetEvaluator(models, delta)
    candidates = {
        "plain loop": lambda: plain_errors(models, x, delta, batch_size),
        "fused": lambda: batched(fused.errors, x, batch_size),
    }
    if with_vmap:
        candidates["torch.vmap"] = lambda: vmap_errors(models, x, loss, batch_size)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for fn in candidates.values():  # warm-up
        fn()
    for _ in range(reps):
        for name, fn in candidates.items():
            times[name].append(timed(fn))
    return {name: len(x) * k / min(values) for name, values in times.items()}


def print_throughput(models, loss: str, x: torch.Tensor, args: argparse.Namespace) -> None:
    gflops = matmul_gflops()
    flops = flops_per_pass()
    rates = throughput(models, loss, x, args.batch_size, args.reps, not args.no_vmap)
    gflops_after = matmul_gflops()
    print(f"\n[1] fleet throughput ({loss}), {len(x)} samples x {len(models)} AEs, batch {args.batch_size}, "
          f"best of {args.reps}, {torch.get_num_threads()} threads")
    print(f"    fp32 2048x2048 matmul: {gflops:.1f} GFLOP/s before, {gflops_after:.1f} after; one AE pass = "
          f"{flops / 1e6:.3f} MFLOP (counted from the model)")
    reference = max(gflops, gflops_after)
    for name, rate in rates.items():
        print(f"    {name:<11} {rate:>9.0f} sample·AE/s  {rate / rates['plain loop']:.2f}x plain  "
              f"{rate * flops / 1e9:.2f} model-GFLOP/s = {rate * flops / 1e9 / reference:.1%} of the matmul rate")



def ten_thousand(codes: list[str], n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """n samples of each dataset (train + test, drawn with replacement when it has fewer)."""
    out = {}
    for code in codes:
        parts = [load_split(REPO / f"results/data/{code}/{split}.npz") for split in ("train", "test")]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        index = rng.permutation(len(images)) if len(images) >= n else rng.integers(0, len(images), n)
        out[code] = (images[index[:n]], labels[index[:n]])
    return out


def tl1_seconds(base_code: str, images: np.ndarray, labels: np.ndarray, seed: int, max_epochs: int) -> tuple[float, int]:
    """TL-1 on (images, labels) from the base classifier of ``base_code``: seconds to the minimum."""
    from simex.training.loop import TrainConfig
    from simex.base.artifacts import load_classifier
    from simex.experiments.transfer import (BASE_CLASSIFIER, StageSettings, TransferError, first_classes, train_base_classifier,
                                transfer_classifier)

    cpu = torch.device("cpu")
    path = REPO / f"results/models/clf/seed0/base/{base_code}.pt"
    if path.is_file():
        base, _, _ = load_classifier(path, BASE_CLASSIFIER, TransferError)
    else:  # not built yet: a quick base classifier, not part of the timing
        train_images, train_labels = first_classes(*load_split(REPO / f"results/data/{base_code}/train.npz"))
        settings = StageSettings(TrainConfig("rmsprop", 1e-3, 3, 32, seed), 0.0)
        base, _ = train_base_classifier(train_images, train_labels, settings, cpu)
    images, labels = first_classes(images, labels)
    settings = StageSettings(TrainConfig("rmsprop", 1e-3, max_epochs, 32, seed, patience=3), 0.2)
    _, result = transfer_classifier(base, images, labels, settings, cpu)
    best = result.history[result.best_epoch - 1]
    return best.elapsed_s, result.best_epoch


def express_agreement(fleet: Fleet, tests: dict[str, np.ndarray], trials: int, seed: int) -> tuple[float, float, int]:
    """Share of held-out trials whose express top-1 equals the full pass's; mean share of samples read."""
    rng = np.random.default_rng(seed)
    codes = list(tests)
    agree, read, total = 0, [], 0
    for trial in range(trials):
        picked = rng.choice(codes, size=1 + trial % 2, replace=False)
        weights = rng.dirichlet(np.ones(len(picked)))
        n = int(rng.integers(300, 1500))
        images = np.concatenate([tests[c][rng.integers(0, len(tests[c]), int(round(n * w)))] for c, w in zip(picked, weights)])
        full = fleet.rank(images, settings=replace(RankSettings.from_config(seed=trial), bootstrap=200))
        express = fleet.rank(images, settings=replace(RankSettings.from_config(seed=trial, express=True), bootstrap=200))
        agree += express.top == full.top
        read.append(express.n_used / express.n_total)
        total += 1
    return agree / total, float(np.mean(read)), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleet", default=str(REPO / "results/fleets/dataset/mse"))
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tl-bases", type=int, default=5, help="reference datasets whose TL-1 is timed (the rest extrapolated)")
    parser.add_argument("--tl-max-epochs", type=int, default=20)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-vmap", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--untrained", type=int, default=0, help="measure [1] only, on this many untrained autoencoders")
    parser.add_argument("--loss", default="mse", help="with --untrained: the δ")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    if args.untrained:
        torch.manual_seed(args.seed)
        models = [LeNet5AutoEncoder().eval() for _ in range(args.untrained)]
        x = torch.from_numpy(rng.integers(0, 256, size=(args.samples, 28, 28), dtype=np.uint8)).float().div_(255.0)
        print_throughput(models, args.loss, x.unsqueeze(1), args)
        return

    fleet = Fleet.load(args.fleet)
    codes = [m.dataset for m in fleet.members]
    k = len(codes)
    print(f"fleet {fleet.root} ({fleet.loss}, {k} autoencoders: {', '.join(fleet.labels)}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    # 1. throughput and FLOP rate
    per_dataset = ten_thousand(codes, args.samples, rng)
    mixed = np.concatenate([per_dataset[c][0] for c in codes])[rng.permutation(args.samples * k)[: args.samples]]
    x = torch.from_numpy(mixed).float().div_(255.0).unsqueeze(1)
    print_throughput(fleet.models, fleet.loss, x, args)

    # 2. ranking 10,000 samples vs TL-1
    unknown_code = codes[-1]
    images, labels = per_dataset[unknown_code]
    full_s = timed(lambda: fleet.rank(images, args.batch_size))
    ranking = fleet.rank(images, args.batch_size)
    express = fleet.rank(images, args.batch_size, RankSettings.from_config(express=True))
    express_s = express.seconds
    print(f"\n[2] ranking {len(images)} samples of {fleet.labels[-1]} against the fleet: "
          f"full pass {full_s:.2f} s (top {ranking.top}), express {express_s:.2f} s "
          f"({express.n_used} samples read, {express.stop_reason}, top {express.top})")
    tl_bases = [c for c in codes if c != unknown_code][: max(0, args.tl_bases)]
    measured = []
    for base in tl_bases:
        seconds, epoch = tl1_seconds(base, images, labels, args.seed, args.tl_max_epochs)
        measured.append(seconds)
        print(f"    TL-1 from base {base}: {seconds:.1f} s to the minimum validation loss (epoch {epoch})")
    if measured:
        per_reference = statistics.mean(measured)
        tl_total = per_reference * k  # one transfer per reference dataset of the fleet
        print(f"    TL-1 against all {k} references: {tl_total:.1f} s ({len(measured)} measured, mean "
              f"{per_reference:.1f} s each){' (extrapolated)' if len(measured) < k else ''}")
        print(f"    speed-up of simex rank: full {tl_total / full_s:.0f}x, express {tl_total / express_s:.0f}x; "
              f"per reference (paper's pairwise latency): {per_reference / (full_s / k):.0f}x")

    # 3. express agreement over held-out trials
    tests = {c: load_split(REPO / f"results/data/{c}/test.npz")[0] for c in codes}
    share, read, total = express_agreement(fleet, tests, args.trials, args.seed)
    print(f"\n[3] express vs full pass, {total} held-out trials (test splits; single datasets and two-dataset "
          f"mixtures, 300-1500 samples; express step/min {RankSettings.from_config().step}): top-1 agreement {share:.1%}, mean share of samples read {read:.1%}")


if __name__ == "__main__":
    main()
