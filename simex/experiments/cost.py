"""A cost model of the pipeline's plan (issue 30): the work of every job, and the wall time
and machine a config needs.

For each job of a plan (a rule and its wildcards, as ``snakemake -n`` lists them),
:func:`job_cost` gives its work as *components*: a kind of pass (``ae-train``: one sample
through a LeNet-5 autoencoder, forward and backward; ``ae-infer``; ``lenet5-train``;
``resnet18-train``; ``issim-pair`` / ``mse-pair``: δ of one pair of samples; CPU-only kinds
such as ``render-letter``) and a count of passes, i.e. samples × members × steps (or epochs).
FLOPs per pass come from ``torch.utils.flop_counter`` (:func:`flops_per_pass`; a training
pass counts three forward passes, forward plus backward), as the latency tables count them.

A job's predicted time is a fixed start cost (Python, torch, reading its inputs) plus, for
each component, passes / rate: :func:`measure_rates` measures the rates on this machine
in a few seconds each; :func:`gpu_rates` builds them from a recorded training throughput
(the project's H200 figures, :data:`H200_RECORDED`), every kind at the same FLOP/s.

Assumptions, said where they are made: classifier trainings that stop early (patience) run
:data:`EARLY_STOP_EPOCHS` epochs (or their cap when smaller); iSSIM training costs what the
measured ``ae-train-issim`` rate says; jobs of one thread share the cores evenly.

Torch-free at import (rules/common.smk calls :func:`capacity_problems` while Snakemake
parses the rules); the measurements import torch when called.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from simex.base.datasets import MNIST, dataset_info
from simex.config import Config, train_per_class

# Classifier trainings with patience stop early; how many epochs they run is not known
# before they run. The model assumes this many (or the cap, when smaller).
EARLY_STOP_EPOCHS = 10
# The last GPU measurements of the project (one lent H200, the fast-GPU issue): the fused
# autoencoder trainer at K = 10, in samples x members per second.
H200_RECORDED = {"fused eager": 24_000.0, "graph-captured": 208_000.0}
# Start cost of a job on the H200 machine (Python, torch, CUDA; docs/architecture.md, issue 21).
H200_JOB_START_S = 4.6
# Kinds that run on the CPU whatever the device (data generation, bookkeeping).
CPU_KINDS = ("render-letter", "variant-sample", "prepare-sample", "bootstrap-sample")


@dataclass(frozen=True)
class Component:
    kind: str
    passes: float  # samples x members x steps (or epochs x samples), pairs, or CPU samples


@dataclass(frozen=True)
class JobCost:
    rule: str
    wildcards: tuple[tuple[str, str], ...]
    components: tuple[Component, ...] = ()
    threads: int = 1

    @property
    def name(self) -> str:
        return self.rule + "".join(f"[{k}={v}]" for k, v in self.wildcards)

    def passes(self) -> float:
        return sum(c.passes for c in self.components)

    def flops(self, per_pass: Mapping[str, float]) -> float:
        return sum(c.passes * per_pass.get(c.kind, 0.0) for c in self.components)

    def seconds(self, rates: "Rates") -> float:
        return rates.start_s + sum(c.passes / rates.per_s[c.kind] for c in self.components)


@dataclass(frozen=True)
class Rates:
    """Passes per second of every kind, and the fixed start cost of a job, on one device."""

    device: str
    per_s: Mapping[str, float]
    start_s: float
    note: str = ""


# --------------------------------------------------------------------------- the plan


def parse_dry_run(text: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job in ``snakemake -n`` output (its job blocks)."""
    jobs, current = [], None
    for line in text.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line.strip()) if not line.startswith(" " * 5) else None
        if match and not line.startswith(" "):
            current = (match.group(1), {})
            jobs.append(current)
        elif current and line.strip().startswith("wildcards:"):
            for pair in line.split(":", 1)[1].split(","):
                key, _, value = pair.strip().partition("=")
                current[1][key] = value
    return jobs


def dry_run_plan(repo: Path | str, configfiles: Sequence[str] = (), targets: Sequence[str] = ()) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job of a fresh run of a config: ``snakemake -n`` in a scratch
    folder holding links to the workflow (no results/ there, so every job is planned)."""
    import subprocess
    import sys
    import tempfile

    repo = Path(repo).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("Snakefile", "rules", "config", "workflow_scripts", "report", "environment.yml"):
            if (repo / name).exists():
                (Path(scratch) / name).symlink_to(repo / name)
        command = [sys.executable, "-m", "snakemake", "-n", "--cores", "2", *targets]
        command += ["--configfile", *configfiles] if configfiles else []
        env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, env=env)
        if done.returncode:
            raise RuntimeError(f"snakemake -n failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return parse_dry_run(done.stdout)


def _train_size(config: Config, code: str) -> int:
    """Samples in a dataset's prepared train split."""
    info = dataset_info(code)
    return info.n_classes * train_per_class(code, config.data.samples_per_dataset, config.data.train_test_ratio)


def _test_size(config: Config, code: str) -> int:
    per_class = config.data.samples_per_dataset // dataset_info(code).n_classes
    return dataset_info(code).n_classes * (per_class - train_per_class(code, config.data.samples_per_dataset,
                                                                        config.data.train_test_ratio))


def _epochs(training, cap_default: int | None = None) -> float:
    """Epochs a training section runs: its epochs, or EARLY_STOP_EPOCHS when it stops at patience."""
    epochs = training.epochs if training.epochs is not None else cap_default
    if getattr(training, "patience", 0) and epochs is not None:
        return min(epochs, EARLY_STOP_EPOCHS)
    return epochs


def _training_passes(training, samples: float) -> float:
    """Sample passes of one member: steps x batch when a step budget is set, else epochs x samples."""
    if training.steps is not None:
        return training.steps * training.batch_size
    return _epochs(training) * samples


def job_cost(config: Config, rule: str, wildcards: Mapping[str, str]) -> JobCost:
    """The work of one job of the plan. KeyError for a rule the model does not know (the
    test of the rehearsal's plan fails on it, so a new rule gets a cost entry)."""
    c = config
    datasets = list(c.datasets)
    wild = tuple(sorted(wildcards.items()))
    threads = c.threads_per_job
    n = c.data.samples_per_dataset
    train = {d: _train_size(c, d) for d in datasets}
    test = {d: _test_size(c, d) for d in datasets}
    comps: list[Component] = []
    if rule == "acquire_dataset":
        d = wildcards["dataset"]
        source = dataset_info(d)
        kind = ("render-letter" if d == "E" else "variant-sample" if source.derived_from else "prepare-sample")
        # a stand-in or regenerated dataset is made with enough a class for the classifier split too
        # (simex.data.acquire.acquisition_per_class): E renders 26 x 4,800 letters at 48,000
        made = source.n_classes * max(n // source.n_classes, n // 10)
        comps.append(Component(kind, made if d != MNIST else 0))
        comps.append(Component("prepare-sample", n))
    elif rule in ("prepare_dataset", "prepare_classifier_split", "augmentation_test_set"):
        comps.append(Component("prepare-sample", n))
    elif rule in ("train_dataset_autoencoders", "train_dataset_autoencoder_replicas"):
        # the replicas job trains replicas 1 .. fleets.members - 1 of every dataset autoencoder (the dataset fleets)
        replicas = 1 if rule == "train_dataset_autoencoders" else c.fleets.members - 1
        kind = f"ae-train-{wildcards['loss']}"
        comps.append(Component(kind, replicas * sum(_training_passes(c.autoencoder, train[d]) for d in datasets)))
        comps.append(Component("ae-infer", replicas * (sum(train.values()) + sum(test.values()))))  # the cards' checks
    elif rule.startswith("train_class_autoencoders_"):
        d = rule.removeprefix("train_class_autoencoders_")
        per_class = train_per_class(d, n, c.data.train_test_ratio)
        members = dataset_info(d).n_classes
        comps.append(Component(f"ae-train-{wildcards['loss']}",
                               members * _training_passes(c.class_autoencoder, per_class)))
    elif rule in ("delta_dataset", "delta_dataset_normalized"):
        comps.append(Component("ae-infer", len(datasets) * sum(test.values())))
    elif rule == "train_base_classifiers":
        comps.append(Component("lenet5-train", sum(_epochs(c.classifier.base) * n * 5 / 6 for _ in datasets)))
    elif rule == "transfer_from_base":
        per_protocol = []
        for protocol in c.classifier.protocols.values():
            samples = n * 5 / 6 if protocol.samples_per_class is None else protocol.samples_per_class * 10
            per_protocol.append(_epochs(c.classifier.transfer) * samples)
        comps.append(Component("lenet5-train", len(datasets) * len(datasets) * sum(per_protocol)))
    elif rule == "pair_classes":
        a = c.augmentation
        refs = c.augmentation_references
        mnist_train = train[MNIST]
        cap = a.max_samples_per_class
        ref_classes = sum(dataset_info(r).n_classes for r in refs)
        simex_losses = len(a.pairing_losses) if "simex" in a.methods else 0
        comps.append(Component("ae-infer", simex_losses * ref_classes * mnist_train))
        per_class_m = min(cap or mnist_train // 10, mnist_train // 10)
        pairs = sum(10 * dataset_info(r).n_classes * per_class_m
                    * min(cap or train_per_class(r, n, c.data.train_test_ratio), train_per_class(r, n, c.data.train_test_ratio))
                    for r in refs)
        if "sample-mse" in a.methods:
            comps.append(Component("mse-pair", pairs))
        if "embeddings" in a.methods:
            comps.append(Component("ae-infer", sum(min(train[r], (cap or 10**9) * dataset_info(r).n_classes)
                                                   for r in refs) + len(refs) * mnist_train))
    elif rule in ("augment_with_reference", "augment_without_borrowing"):
        a = c.augmentation
        methods = sum(len(a.pairing_losses) if m == "simex" else 1 for m in a.methods)
        members = a.trials * len(a.n_mnist) * (methods * len(a.n_borrowed) if rule == "augment_with_reference" else 1)
        comps.append(Component("lenet5-train", members * a.classifier.steps * a.classifier.batch_size))
    elif rule == "interclass_delta":
        comps.append(Component("ae-infer", 10 * test[MNIST]))
    elif rule == "interclass_sample_distance":
        per_pair = train_per_class(MNIST, n, c.data.train_test_ratio) * (test[MNIST] // 10)
        pairs = c.interclass.sample_distance.max_pairs or per_pair
        comps.append(Component(f"{wildcards['loss']}-pair", 100 * min(pairs, per_pair)))
    elif rule == "nine_class_classifiers":
        arch = wildcards["arch"]
        training = c.interclass.classifiers[arch]
        per_class = training.samples_per_class or train_per_class(MNIST, n, c.data.train_test_ratio)
        per_class = min(per_class, train_per_class(MNIST, n, c.data.train_test_ratio))
        comps.append(Component(f"{arch}-train", 10 * _training_passes(training, 9 * per_class)))
        comps.append(Component(f"{arch}-infer", 10 * test[MNIST]))
    elif rule == "latency_pairwise":
        lat = c.latency
        unknown = train[lat.unknown] if lat.split == "train" else test[lat.unknown]
        comps.append(Component("ae-infer", lat.repeats * len(lat.losses) * unknown))
        epochs = min(lat.max_epochs, EARLY_STOP_EPOCHS)
        comps.append(Component("lenet5-train", len(lat.transfer) * lat.repeats * epochs * unknown))
    elif rule == "latency_ae_training":
        t = c.latency.training_time
        last = max(t.checkpoints)
        comps.append(Component(f"ae-train-{t.loss}", t.repeats * last * sum(train[d] for d in t.base_datasets)))
        comps.append(Component("ae-infer", t.repeats * len(t.checkpoints) * len(t.base_datasets) * sum(test.values())))
    elif rule == "latency_base_training":
        t, lat = c.latency.training_time, c.latency
        epochs = min(lat.max_epochs, EARLY_STOP_EPOCHS)
        comps.append(Component("lenet5-train", len(t.base_training) * t.repeats * epochs
                               * sum(n * 5 / 6 for _ in t.base_datasets)))
    elif rule == "fleet_rank_check":
        comps.append(Component("ae-infer", 2 * sum(test.values())))
        comps.append(Component("bootstrap-sample", c.fleets.bootstrap * sum(test.values()) / 100))
    elif rule in ("export_fleet", "table1", "augmentation_table", "figure_augmentation", "figure_inter_dataset",
                  "figure_interclass", "figure_reconstructions", "figure_samples", "latency_fig5", "latency_fig6",
                  "provenance_table", "table2_spearman", "all"):
        threads = 1  # bookkeeping: a start cost only
    else:
        raise KeyError(f"the cost model has no entry for rule {rule!r}")
    return JobCost(rule, wild, tuple(comp for comp in comps if comp.passes > 0), threads)


def plan_costs(config: Config, plan: Sequence[tuple[str, Mapping[str, str]]]) -> list[JobCost]:
    return [job_cost(config, rule, wildcards) for rule, wildcards in plan]


# --------------------------------------------------------------------------- FLOPs and rates


def flops_per_pass() -> dict[str, float]:
    """FLOPs of one pass of each model kind (torch.utils.flop_counter; training = 3 forward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from simex.experiments.interclass import build_classifier
    from simex.models.networks import LeNet5AutoEncoder

    def forward(model) -> float:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model.eval()(torch.zeros(1, 1, 28, 28))
        return float(counter.get_total_flops())

    ae, lenet, resnet = forward(LeNet5AutoEncoder()), forward(build_classifier("lenet5", 10)), \
        forward(build_classifier("resnet18", 9))
    blur = 2 * (28 * 28 * 18 + 18 * 28 * 18)  # the two band-matrix products of one map (simex.models.losses)
    return {"ae-infer": ae, "ae-train-mse": 3 * ae, "ae-train-issim": 3 * ae, "lenet5-infer": lenet,
            "lenet5-train": 3 * lenet, "resnet18-infer": resnet, "resnet18-train": 3 * resnet,
            "mse-pair": 3 * 784.0, "issim-pair": blur + 784 + 20 * 18 * 18}


def _rate(step, passes_per_call: int, seconds: float) -> float:
    """Passes per CPU second (this process's user + system time, not the wall clock: on a
    shared machine the wall clock measures the other users too)."""
    step()  # warm-up
    calls, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        step()
        calls += 1
    return calls * passes_per_call / (time.process_time() - start)


def measure_rates(font_globs: Sequence[str], seconds: float = 2.0, threads: int = 1) -> Rates:
    """Passes per second of every kind on this CPU, ``seconds`` each, on ``threads`` threads,
    and a job's start cost (a fresh Python importing torch and the package)."""
    import subprocess
    import sys

    import numpy as np
    import torch

    from simex.data.standin import StandinSpec, find_fonts, render_letter
    from simex.experiments.interclass import build_classifier
    from simex.models.losses import pair_distance_sum
    from simex.models.networks import LeNet5AutoEncoder

    torch.set_num_threads(threads)
    rates: dict[str, float] = {}
    images = torch.rand(1024, 1, 28, 28)

    def trainer(model, loss_fn, batch: int, target):
        optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
        x = images[:batch]
        y = target(x)

        def step():
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        return step

    # autoencoders train as the pipeline trains them: K = 10 members fused (simex.training.autoencoders)
    from simex.config import SSIMWindow
    from simex.training.autoencoders import train_autoencoders
    from simex.training.loop import TrainConfig

    sets = [np.random.default_rng(k).integers(0, 256, (96, 28, 28), dtype=np.uint8) for k in range(10)]
    configs = [TrainConfig("rmsprop", 1e-3, 1, 32, seed=k) for k in range(10)]
    for loss in ("mse", "issim"):
        rates[f"ae-train-{loss}"] = _rate(lambda: train_autoencoders(sets, loss, SSIMWindow.default(), configs,
                                                                     torch.device("cpu")), 960, seconds)
    labels = torch.randint(0, 9, (1024,))
    cross = torch.nn.functional.cross_entropy
    # LeNet-5 classifiers train fused, K members a job (simex.training.fused): K = 10 here
    from simex.training.fused import train_fused_classifiers

    data = [(images[96 * k : 96 * (k + 1)], labels[96 * k : 96 * (k + 1)]) for k in range(10)]
    rates["lenet5-train"] = _rate(lambda: train_fused_classifiers(
        [build_classifier("lenet5", 10) for _ in range(10)], data, configs, torch.device("cpu")), 960, seconds)
    rates["resnet18-train"] = _rate(trainer(build_classifier("resnet18", 9), cross, 128, lambda x: labels[:128]), 128,
                                    seconds)
    with torch.inference_mode():
        for kind, model in (("ae-infer", LeNet5AutoEncoder()), ("lenet5-infer", build_classifier("lenet5", 10)),
                            ("resnet18-infer", build_classifier("resnet18", 9))):
            model.eval()
            batch = 1024 if kind != "resnet18-infer" else 256
            rates[kind] = _rate(lambda: model(images[:batch]), batch, seconds)
        a, b = images[:400], images[400:800]
        ia = torch.randint(0, 400, (20000,))
        ib = torch.randint(0, 400, (20000,))
        for loss in ("mse", "issim"):
            rates[f"{loss}-pair"] = _rate(lambda: pair_distance_sum(loss, a, b, ia, ib), 20000, seconds)
    spec = StandinSpec(font_globs=[], max_rotation_deg=12, max_shear=0.3, elastic_alpha=3.0, elastic_sigma=4.0,
                       max_stroke_width=3, blur_sigma=(0.4, 1.2))
    font = find_fonts(list(font_globs))[0][0]
    rng = np.random.default_rng(0)
    rates["render-letter"] = _rate(lambda: render_letter(int(rng.integers(26)), font, spec, rng), 1, seconds)
    pixels = np.random.default_rng(0).integers(0, 256, (4096, 28, 28), dtype=np.uint8)
    from scipy import ndimage
    rates["variant-sample"] = _rate(lambda: [ndimage.rotate(p, 33.0, reshape=False, order=1) for p in pixels[:64]],
                                    64, seconds)
    rates["prepare-sample"] = _rate(lambda: np.savez_compressed(os.devnull, x=pixels), len(pixels), seconds)
    rates["bootstrap-sample"] = _rate(lambda: np.random.default_rng(0).choice(pixels.shape[0], 4096).sum(), 4096 / 100,
                                      seconds)
    import resource

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before = children_cpu()
    for _ in range(2):
        subprocess.run([sys.executable, "-c", "import torch, pandas, simex.training.loop, simex.experiments.interclass, "
                        "simex.jobs"], check=True)
    start_s = (children_cpu() - before) / 2
    return Rates(f"this CPU, {threads} thread(s)", rates, start_s,
                 f"CPU time (user + system), {seconds:g} s a kind, {threads} thread(s); job start {start_s:.1f} CPU s")


def gpu_rates(cpu: Rates, train_rate: float, label: str, per_pass: Mapping[str, float]) -> Rates:
    """A GPU's rates from one recorded training throughput (ae-train, samples x members / s):
    every model kind at the same FLOP/s; CPU kinds (data, bootstrap) at the CPU's rates."""
    flops_per_s = train_rate * per_pass["ae-train-mse"]
    rates = {kind: (cpu.per_s[kind] if kind in CPU_KINDS or kind not in per_pass
                    else flops_per_s / per_pass[kind]) for kind in cpu.per_s}
    return Rates(f"one GPU at {label}", rates, H200_JOB_START_S,
                 f"from the H200 figure {train_rate:,.0f} samples x members/s ({label}); every kind at its FLOP/s")


def predict_wall(costs: Sequence[JobCost], rates: Rates, cores: int = 1) -> float:
    """Wall time of the plan on ``cores`` otherwise idle cores: its CPU seconds shared evenly
    (Snakemake keeps every core busy while jobs are ready; a job's threads are assumed to scale
    linearly). With ``cores`` = 1, the plan's CPU time (or, for a GPU's rates, its device time,
    jobs one after another)."""
    return sum(job.seconds(rates) for job in costs) / cores


# --------------------------------------------------------------------------- what the machine must hold

# Resident memory of the largest job: a fixed part (Python, torch, the job's models) plus bytes
# per sample a dataset (the largest jobs hold every dataset's splits as float tensors and their
# fused members' activations). Fitted to issue 30's first paper-scale rehearsal (peak 7.6 GB at
# 48,000 samples a dataset), with the default run's ~1.2 GB at 1,800; runs/paper-rehearsal/ has
# this branch's figure.
JOB_BASE_BYTES = 1.0e9
JOB_BYTES_PER_SAMPLE = 1.4e5  # per sample of one dataset (data.samples_per_dataset)
# results/ on disk per sample of all datasets (raw archive, splits, classifier split, borrowed
# sets; models are small): the first rehearsal's 1.2 GB at 5 x 48,000, with a 20 % margin.
DISK_BYTES_PER_SAMPLE = 5.0e3
DISK_BASE_BYTES = 2.0e8


@dataclass(frozen=True)
class Needs:
    memory_bytes: float
    disk_bytes: float


def needs(config: Config) -> Needs:
    """What a run of ``config`` needs: the largest job's memory, and results/ on disk."""
    samples = config.data.samples_per_dataset * len(config.datasets)
    return Needs(JOB_BASE_BYTES + JOB_BYTES_PER_SAMPLE * config.data.samples_per_dataset,
                 DISK_BASE_BYTES + DISK_BYTES_PER_SAMPLE * samples)


def machine_memory_bytes() -> float:
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def capacity_problems(config: Config, root: Path | str = ".", memory_bytes: float | None = None,
                      disk_free_bytes: float | None = None) -> list[str]:
    """Why this machine cannot hold a run of ``config`` (memory, disk), before any job runs:
    each message names the need and what is available. ``memory_bytes`` / ``disk_free_bytes``
    default to this machine's (os.sysconf, shutil.disk_usage of ``root``); results/ already
    there counts as written."""
    need = needs(config)
    memory = machine_memory_bytes() if memory_bytes is None else memory_bytes
    root = Path(root)
    free = shutil.disk_usage(root).free if disk_free_bytes is None else disk_free_bytes
    written = sum(f.stat().st_size for f in (root / "results").rglob("*") if f.is_file()) \
        if (root / "results").is_dir() else 0
    problems = []
    if need.memory_bytes > memory:
        problems.append(f"its largest job needs about {_gib(need.memory_bytes)} of memory "
                        f"({config.data.samples_per_dataset} samples a dataset), and this machine has {_gib(memory)}")
    if need.disk_bytes - written > free:
        problems.append(f"results/ needs about {_gib(need.disk_bytes)} of disk ({_gib(written)} already written), "
                        f"and {_gib(free)} is free under {root.resolve()}")
    return problems
