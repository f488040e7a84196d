# Fig. 5's measurements: SimEx (A(Y) inference) vs transfer learning of B(Y), one job, warm.
import torch

from simex.base.artifacts import load_classifier, read_json, write_json
from simex.data.acquire import load_split
from simex.training.autoencoders import load_autoencoder
from simex.devices import claim_record
from simex.jobs import job_device, start_job
from simex.config import Classifier, Latency, SSIMWindow, derived_seed
from simex.experiments.latency import autoencoder_flops, hardware, matmul_peak_gflops, pairwise_latency, peak_method
from simex.experiments.transfer import BASE_CLASSIFIER, TransferError, classifier_data

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm, share=False)
section, classifier = Latency.from_dict(sm.params.latency), Classifier.from_dict(sm.params.classifier)
reference_provenance, unknown_provenance = (read_json(path) for path in sm.input.provenance)
autoencoders = {loss: load_autoencoder(path, device)[0] for loss, path in zip(section.losses, sm.input.autoencoders)}
base, _, _ = load_classifier(sm.input.base, BASE_CLASSIFIER, TransferError, device)
# both methods see the same samples: the unknown dataset's split, its ten classes (E: a-j)
images, labels = classifier_data(*load_split(sm.input.unknown), per_class=None)
seed = sm.params.seed
peak_size, peak_reps = 1024, 5
peak_before = matmul_peak_gflops(device, peak_size, peak_reps)
record = pairwise_latency(
    autoencoders, base, images, labels, section.transfer, classifier.transfer,
    int(section.max_epochs), int(section.repeats),
    lambda name, repeat: derived_seed(seed, "latency", name, repeat), SSIMWindow.from_dict(sm.params.ssim), device,
    int(section.batch_size))  # TL-k: §5.1 as written (FC layers retrained from B(Y)'s weights)
peak = max(peak_before, matmul_peak_gflops(device, peak_size, peak_reps))
record.update({
    "reference": reference_provenance["label"], "unknown": unknown_provenance["label"],
    "split": section.split, "samples": int(len(images)), **claim_record(device),
    "hardware": hardware(device), "threads": torch.get_num_threads(), "peak_gflops": peak,
    "peak_method": peak_method(peak_size, peak_reps) + " (best of before and after the measurements)",
    "flops_per_sample": autoencoder_flops(),
})
log.info("fp32 matmul peak %.2f GFLOP/s; one AE pass %d FLOPs", peak, record["flops_per_sample"])
write_json(sm.output.record, record)
