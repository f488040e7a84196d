# The benchmark's ground truth for one target X: every source's B(Y) by linear probe and by
# full fine-tune, and scratch, per n and seed, on X's test split.
from simex.base.artifacts import load_classifier, write_json
from simex.experiments.benchmark import BenchmarkError, GroundTruthSettings, target_ground_truth
from simex.config import Probe, Training
from simex.jobs import job_device, start_job
from simex.experiments.transfer import BASE_CLASSIFIER, load_classifier_split

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
sources, seeds = list(sm.params.sources), int(sm.params.seeds)
paths = list(sm.input.bases)
bases = {y: [load_classifier(paths[i * seeds + s], BASE_CLASSIFIER, BenchmarkError, device)[0] for s in range(seeds)]
         for i, y in enumerate(sources)}
settings = GroundTruthSettings(
    seed=int(sm.params.seed), replicates=seeds, samples_per_class=tuple(sm.params.samples_per_class),
    finetune=Training.from_dict(sm.params.finetune), scratch=Training.from_dict(sm.params.scratch),
    probe=Probe.from_dict(sm.params.probe),
    # v2: its (protocol, n) cells only, and its seeds (PROTOCOL-v2.md); v1: both protocols at every n
    cells=tuple((protocol, int(n)) for protocol, n in sm.params.cells) if hasattr(sm.params, "cells") else None,
    tag=getattr(sm.params, "tag", "benchmark"),
)
record = target_ground_truth(sm.wildcards.dataset, load_classifier_split(sm.input.train),
                             load_classifier_split(sm.input.test), bases, settings, device)
write_json(sm.output.record, {**record, "sources": sources, "seed": sm.params.seed, "seeds": seeds,
                              "finetune": dict(sm.params.finetune), "scratch": dict(sm.params.scratch),
                              "probe": dict(sm.params.probe), "device": str(device)})
