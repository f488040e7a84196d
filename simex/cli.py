"""The ``simex`` command: build a fleet from known datasets; rank them by similarity to a new one.

    simex fleet build --out fleets/mine --loss issim --steps 2000 --members 3 cars=photos/cars/ digits=digits.npz
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
from simex.config import schema_default
from simex.base.errors import SimexError, below_minimum

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simex", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"simex {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rank = commands.add_parser("rank", help="order a fleet's known datasets (or classes) by Δ to new data",
                               description="Order the known datasets (or classes) of a fleet by Δ(X|Y), the mean "
                                           "reconstruction error of the new data X through the autoencoder of Y; "
                                           "smallest (most similar) first. A fleet with several autoencoders per "
                                           "known dataset ranks by their mean Δ and shows their spread; its "
                                           "interval and P(first) resample the autoencoders as well as the "
                                           "samples (a two-level bootstrap).")
    rank.add_argument("--fleet", required=True, help="fleet folder (with manifest.json, or with one per loss)")
    rank.add_argument("--data", required=True,
                      help=".npy/.npz array (N×H×W, N×C×H×W or N×H×W×C; uint8 or float in [0,1]), an IDX file, "
                           "or a folder of PNG/JPEG images; converted to the fleet's input shape (output says how)")
    rank.add_argument("--loss", choices=["mse", "issim"], help="which fleet, when the folder holds several")
    rank.add_argument("--format", choices=["table", "json", "csv"], default="table")
    rank.add_argument("--output", help="write the result to this file (atomically) instead of stdout")
    # defaults: the config's `fleets` section in config/schema.yaml
    rank.add_argument("--batch-size", type=int, default=schema_default("fleets", "batch_size"))
    rank.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    rank.add_argument("--bootstrap", type=int, default=schema_default("fleets", "bootstrap"),
                      help="bootstrap resamples for the intervals (of samples, and of members where a known "
                           "dataset has several)")
    rank.add_argument("--confidence", type=float, default=schema_default("fleets", "confidence"))
    rank.add_argument("--seed", type=int, default=0, help="seeds the bootstrap and the express reading order")
    express = rank.add_argument_group("express mode")
    express.add_argument("--express", action="store_true",
                         help="stop reading samples once the top two intervals no longer overlap")
    express.add_argument("--budget", type=int, default=schema_default("fleets", "express", "budget"),
                         help="read at most this many samples (0: no limit)")
    express.add_argument("--step", type=int, default=schema_default("fleets", "express", "step"),
                         help="samples read between checks")
    express.add_argument("--min-samples", type=int, default=schema_default("fleets", "express", "min_samples"),
                         help="never stop before this many samples")
    add_fleet_build(commands)
    return parser


def add_fleet_build(commands: argparse._SubParsersAction) -> None:
    fleet = commands.add_parser("fleet", help="build fleets from your own datasets")
    actions = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build", help="train autoencoders per dataset (or class) and write a fleet for `simex rank`",
        description="Train a fleet outside the pipeline, with its training code: --members LeNet-5 autoencoders "
                    "(own seeds, trained as one fused job) per NAME=PATH (or per class with --per-class), so that "
                    "`simex rank` states their spread and resamples them in its intervals; written atomically to OUT/LOSS with the manifest "
                    "and checksums `simex rank` reads. PATH: a folder with one subfolder per class, a flat folder "
                    "of PNG/JPEG images, .npy, .npz (images, optional labels), an IDX file or an IDX pair "
                    "IMAGES,LABELS. Images are converted to --shape (the output says how).")
    build.add_argument("datasets", nargs="+", metavar="NAME=PATH", help="a known dataset and where it is")
    build.add_argument("--out", required=True, help="fleet folder; the fleet goes to OUT/LOSS, which must not exist")
    build.add_argument("--loss", required=True, choices=["mse", "issim"], help="δ, the training and ranking loss")
    build.add_argument("--per-class", action="store_true", help="members per class of each (labelled) dataset")
    build.add_argument("--members", type=int, default=schema_default("fleets", "members"),
                       help="autoencoders per dataset (or class), each with its own seed (default %(default)s; "
                            "1: one, with the seed a fleet had before replicas, and intervals of the samples' "
                            "noise only)")
    budget = build.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=schema_default("autoencoder", "epochs"),
                        help="epochs per member (default: the pipeline's, %(default)s)")
    budget.add_argument("--steps", type=int, help="optimizer steps per member instead of epochs")
    build.add_argument("--shape", default="1,28,28",
                       help="input shape C,H,W (default 1,28,28, the paper's; e.g. 3,32,32 for CIFAR-like data)")
    build.add_argument("--batch-size", type=int, default=schema_default("autoencoder", "batch_size"))
    build.add_argument("--lr", type=float, default=schema_default("autoencoder", "lr"),
                       help="learning rate of the pipeline's optimizer (config/schema.yaml's autoencoder section)")
    build.add_argument("--min-samples", type=int, default=20, help="refuse members with fewer training images")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    build.add_argument("--name", help="the fleet's name in rankings (default: OUT's folder name)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise SimexError(f"--device {name}: not a device name (auto, cpu, cuda or cuda:N)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SimexError(f"--device {name}: no CUDA device on this machine")
    return device


def run_rank(args: argparse.Namespace) -> str:
    from simex.fleets.rank import Fleet, RankSettings
    from simex.analysis.tables import render_ranking

    if problems := below_minimum([("--batch-size", args.batch_size, 1)]):
        raise SimexError(problems[0])
    settings = RankSettings(bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed, express=args.express,
                            budget=args.budget, step=args.step, min_samples=args.min_samples,
                            check_resamples=schema_default("fleets", "express", "check_resamples"))
    fleet = Fleet.load(args.fleet, loss=args.loss, device=pick_device(args.device))
    return render_ranking(fleet.rank(args.data, batch_size=args.batch_size, settings=settings), args.format)


def run_fleet_build(args: argparse.Namespace) -> None:
    from simex.fleets.build import build_fleet, parse_dataset_arguments
    from simex.data.images import InputShape
    from simex.training.loop import TrainConfig

    datasets = parse_dataset_arguments(args.datasets)
    config = TrainConfig(schema_default("autoencoder", "optimizer"), args.lr, epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed, steps=args.steps)
    build_fleet(datasets, args.out, args.loss, config, per_class=args.per_class, shape=InputShape.parse(args.shape),
                device=pick_device(args.device), min_samples=args.min_samples, name=args.name,
                progress=not args.quiet, report=lambda line: print(line, flush=True), members=args.members)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fleet":
            run_fleet_build(args)
            return EXIT_OK
        text = run_rank(args)
        if args.output:
            from simex.base.artifacts import write_text

            write_text(args.output, text)
        else:
            sys.stdout.write(text)
    except SimexError as err:  # unusable data, fleet or config; anything else is a bug and keeps its traceback
        print(f"simex: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
