"""Exploratory, not part of the registered protocol: how much does SimEx's benchmark score
depend on the one training run of each autoencoder? Prints a Markdown report.

    .venv/bin/python docs/benchmark/ae_seeds/ae_seeds.py --results <benchmark run>/results \
        > docs/benchmark/ae_seeds/README.md

Written after run 2's results (docs/benchmark/README.md) were known, to size one source of
variation the protocol leaves out: it trains one A(Y) per dataset, and its intervals cover
targets and transfer seeds only. Here the eight iSSIM autoencoders are retrained with other
seeds (``--replicates``; replicate 0 is the run's own A(Y), loaded from its checkpoints, as a
check that this script reproduces the run's score), with the default run's settings and the
fused trainer. Each replicate's SimEx-iSSIM scores every target's draws (the very samples the
run's estimators saw), and the run's own ground truth and metric code
(simex.experiments.benchmark_metrics) turn them into the headline cell's numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from simex.training.autoencoders import load_autoencoder, train_autoencoders
from simex.config import SSIMWindow, derived_seed, load
from simex.experiments.benchmark_metrics import gains_frame, metrics_frame, scores_frame, summary_table, timings_frame, views_of
from simex.data.acquire import load_split
from simex.inference.evaluate import FleetEvaluator
from simex.models.losses import per_sample_loss
from simex.training.loop import train_config

ESTIMATOR, LOSS = "SimEx-iSSIM", "issim"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True, help="the benchmark run's results/ folder")
    parser.add_argument("--replicates", type=int, default=4, help="autoencoder seeds besides the run's own")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load("config/config.yaml", {"datasets": ["M", "E", "R", "B", "F", "BR", "RBI", "A"]})
    bench = config.benchmark
    datasets = list(config.datasets)
    window: SSIMWindow = config.ssim
    delta = per_sample_loss(LOSS, window)
    data = args.results / "data"
    truth = [json.loads((args.results / "benchmark" / "ground_truth" / f"{d}.json").read_text()) for d in datasets]
    estimates = {d: json.loads((args.results / "benchmark" / "estimators" / f"{d}.json").read_text()) for d in datasets}
    gains = gains_frame(truth)
    timings = timings_frame(list(estimates.values()))
    timings = timings[timings["estimator"] == ESTIMATOR]
    train = [load_split(data / d / "train.npz")[0] for d in datasets]

    fleets = {0: {d: load_autoencoder(args.results / "models" / "ae" / "dataset" / d / f"{LOSS}.pt", "cpu")[0]
                  for d in datasets}}
    for r in range(1, args.replicates + 1):
        configs = [train_config(config.autoencoder, derived_seed(config.seed, "ae-replicate", r, d, LOSS))
                   for d in datasets]
        trained = train_autoencoders(train, LOSS, window, configs, torch.device("cpu"))
        fleets[r] = {d: model for d, (model, _) in zip(datasets, trained)}

    rows = []
    for r, fleet in fleets.items():
        records = []
        for target in datasets:
            images = load_split(data / target / "classifier_train.npz")[0]
            sources = estimates[target]["sources"]
            evaluator = FleetEvaluator([fleet[y] for y in sources], delta, torch.device("cpu"))
            scores = []
            for n, per_seed in estimates[target]["draws"].items():
                for s, index in per_seed.items():
                    errors = evaluator.image_errors(images[np.asarray(index)], 1024).double().mean(dim=0).numpy()
                    scores += [{"estimator": ESTIMATOR, "n": int(n), "seed": int(s), "source": y, "score": -float(e)}
                               for y, e in zip(sources, errors)]
            records.append({"target": target, "scores": scores})
        metrics = metrics_frame(gains, scores_frame(records))
        summary = summary_table(metrics[metrics["estimator"] == ESTIMATOR], views_of(datasets, []), timings,
                                1000, 0.95, config.seed)
        for _, row in summary[summary["estimator"] == ESTIMATOR].iterrows():
            rows.append({"replicate": r, "protocol": row["protocol"], "n": row["n"], "tau": row["tau"],
                         "top1": row["top1"], "regret": row["regret"]})
    table = pd.DataFrame(rows)
    head = table[(table["protocol"] == bench.headline.protocol) & (table["n"] == bench.headline.samples_per_class)]
    print("# SimEx-iSSIM's benchmark score over autoencoder seeds (exploratory)\n")
    print("Not registered: written after run 2's results were known (`ae_seeds.py` says why and how). "
          "Replicate 0 is run 2's own A(Y); replicates 1–"
          f"{args.replicates} retrain the eight iSSIM autoencoders with other seeds and the same settings. "
          "Ground truth, draws and metric code are run 2's.\n")
    print(f"Headline cell ({bench.headline.protocol}, n = {bench.headline.samples_per_class}), mean over targets and seeds:\n")
    print("| A(Y) replicate | weighted τ | top-1 hit | relative regret |")
    print("|---|---:|---:|---:|")
    for _, row in head.iterrows():
        print(f"| {int(row['replicate'])}{' (run 2)' if row['replicate'] == 0 else ''} | {row['tau']:.2f} | "
              f"{row['top1']:.2f} | {row['regret']:.2f} |")
    for metric in ("tau", "top1", "regret"):
        values = head[metric].tolist()
        print(f"\n- {metric}: mean {statistics.fmean(values):.2f}, range [{min(values):.2f}, {max(values):.2f}], "
              f"sd {statistics.stdev(values):.2f} over {len(values)} autoencoder seeds", end="")
    print("\n\nEvery cell, weighted τ by replicate:\n")
    wide = table.pivot_table(index=["protocol", "n"], columns="replicate", values="tau")
    print("| protocol | n | " + " | ".join(f"replicate {c}" for c in wide.columns) + " |")
    print("|---|---:|" + "---:|" * len(wide.columns))
    for (protocol, n), values in wide.iterrows():
        print(f"| {protocol} | {n} | " + " | ".join(f"{v:.2f}" for v in values) + " |")


if __name__ == "__main__":
    main()
