# One row of samples per dataset of the run (the first training sample of each of up to ten classes).
from simex.base.artifacts import read_json, save_figure
from simex.data.acquire import load_split
from simex.base.datasets import dataset_info, labels_from_provenance
from simex.jobs import start_job
from simex.analysis.plots import samples_figure

sm = snakemake  # noqa: F821
log = start_job(sm)
labels = labels_from_provenance(dict(zip(sm.params.datasets, sm.input.provenance)))
rows = []
for code, train, provenance in zip(sm.params.datasets, sm.input.train, sm.input.provenance):
    images, classes = load_split(train)
    info = dataset_info(code)
    picked = [int((classes == c).argmax()) for c in sorted(set(classes.tolist()))[: sm.params.per_row]]
    rows.append((labels[code], read_json(provenance)["name"], images[picked],
                 [info.class_names[classes[i]] for i in picked]))
save_figure(sm.output.figure, samples_figure(rows))
log.info("samples of %s", ", ".join(labels.values()))
