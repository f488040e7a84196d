# Trains a per-dataset autoencoder, or a per-class one when the rule has a {label}.
from dataclasses import asdict
from pathlib import Path

from simex.artifacts import read_json, setup_logging
from simex.data.acquire import load_split
from simex.devices import configure_threads, select_device
from simex.fleet import save_autoencoder, train_autoencoder
from simex.settings import derived_seed, ssim_window, train_config

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
configure_threads(sm.threads)
device = select_device(sm.resources.gpu, Path(sm.config["gpu_lock_dir"]))
dataset, loss = sm.wildcards.dataset, sm.wildcards.loss
label = int(sm.wildcards.label) if "label" in sm.wildcards.keys() else None
images, labels = load_split(sm.input.train)
if label is not None:
    images = images[labels == label]
config = train_config(sm.params.training, derived_seed({"seed": sm.params.seed}, "ae", dataset, loss, label))
model, result = train_autoencoder(images, loss, ssim_window({"ssim": sm.params.ssim}), config, device,
                                  sm.params.training.get("validation_fraction", 0.0))
provenance = read_json(sm.input.provenance)
class_names = provenance.get("class_names")  # a user's dataset records its classes; the paper's are registered
save_autoencoder(sm.output.model, model, {
    "dataset": dataset, "label": provenance["label"], "class": label, "loss": loss,
    "class_name": class_names[label] if class_names and label is not None else None,
    "provenance": provenance["provenance"], "source": provenance["source"], "n_samples": int(len(images)),
    "ssim": sm.params.ssim, "training": asdict(config), "history": [asdict(r) for r in result.history],
    "device": str(device),
})
