"""The ``simex`` command: rank known datasets by similarity to a new one, using a fleet.

    simex rank --fleet results/fleets/dataset --loss issim --data new.npz
    simex rank --fleet results/fleets/dataset/mse --data images/ --express --format json

Exit status: 0 on success, 1 when the fleet or the data is unusable (the message names
the problem), 2 for a malformed command line. Output goes to stdout (or ``--output``,
written atomically) only once the whole ranking is done, so nothing is half-written.
"""

from __future__ import annotations

import argparse
import sys

from simex import __version__

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simex", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"simex {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rank = commands.add_parser("rank", help="order a fleet's known datasets (or classes) by Δ to new data",
                               description="Order the known datasets (or classes) of a fleet by Δ(X|Y), the mean "
                                           "reconstruction error of the new data X through the autoencoder of Y; "
                                           "smallest (most similar) first.")
    rank.add_argument("--fleet", required=True, help="fleet folder (with manifest.json, or with one per loss)")
    rank.add_argument("--data", required=True,
                      help=".npy/.npz array (N×28×28 or N×1×28×28, uint8 or float in [0,1]), an IDX file, "
                           "or a folder of PNG/JPEG images (converted to 28×28 grayscale)")
    rank.add_argument("--loss", choices=["mse", "issim"], help="which fleet, when the folder holds several")
    rank.add_argument("--format", choices=["table", "json", "csv"], default="table")
    rank.add_argument("--output", help="write the result to this file (atomically) instead of stdout")
    rank.add_argument("--batch-size", type=int, default=1024)
    rank.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    rank.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    rank.add_argument("--confidence", type=float, default=0.95)
    rank.add_argument("--seed", type=int, default=0, help="seeds the bootstrap and the express reading order")
    express = rank.add_argument_group("express mode")
    express.add_argument("--express", action="store_true",
                         help="stop reading samples once the top two intervals no longer overlap")
    express.add_argument("--budget", type=int, default=5000, help="read at most this many samples (0: no limit)")
    express.add_argument("--step", type=int, default=128, help="samples read between checks")
    express.add_argument("--min-samples", type=int, default=128, help="never stop before this many samples")
    return parser


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device on this machine")
    return device


def run_rank(args: argparse.Namespace) -> str:
    from simex.rank import Fleet, RankSettings
    from simex.tables import render_ranking

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {args.batch_size}")
    settings = RankSettings(bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed,
                            express=args.express, budget=args.budget, step=args.step, min_samples=args.min_samples)
    fleet = Fleet.load(args.fleet, loss=args.loss, device=pick_device(args.device))
    return render_ranking(fleet.rank(args.data, batch_size=args.batch_size, settings=settings), args.format)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text = run_rank(args)
        if args.output:
            from simex.artifacts import write_text

            write_text(args.output, text)
        else:
            sys.stdout.write(text)
    except (ValueError, OSError) as err:  # FleetError and InputError are ValueErrors
        print(f"simex: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
