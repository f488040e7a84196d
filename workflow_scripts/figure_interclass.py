# Fig. 8: inter-class similarity / confusion in MNIST, darker = more similar / confusing; every
# panel in Table 2's orientation (row k: the unknown class c_k, column i: the known class c_i).
from simex.base.artifacts import save_figure
from simex.base.datasets import labels_from_provenance
from simex.experiments.interclass import CLASSIFIER_METHODS, SAMPLE_METHODS, SIMEX_METHODS, read_class_matrix, table2_matrices
from simex.jobs import start_job
from simex.analysis.plots import interclass_figure

sm = snakemake  # noqa: F821
start_job(sm)
label = labels_from_provenance({"M": sm.input.provenance})["M"]
simex_names = [SIMEX_METHODS[loss] for loss in sm.params.losses]
sample_names = [SAMPLE_METHODS[loss] for loss in sm.params.losses]
confusion_names = [CLASSIFIER_METHODS[arch] for arch in sm.params.archs]
matrices = table2_matrices(
    {name: read_class_matrix(p) for name, p in zip(simex_names, sm.input.deltas)},
    {name: read_class_matrix(p) for name, p in zip(sample_names, sm.input.samples)},
    {name: read_class_matrix(p) for name, p in zip(confusion_names, sm.input.confusions)},
)
simex = [(matrices[name], f"{name}: Δ(c_k|c_i)", "low", "{:.3f}") for name in simex_names]
sample = [(matrices[name], f"{name}: mean δ(c_k, c_i)", "low", "{:.3f}") for name in sample_names]
confusion = [(matrices[name], f"{name}: mean softmax of C_k at c_i", "high", "{:.2f}") for name in confusion_names]
# The paper's panels (MSE first) in the top row, the iSSIM variants it omits below.
rows = [[simex[0], sample[0], *confusion[:1]], [*simex[1:], *sample[1:], *confusion[1:]]]
panels = [panel for row in rows for panel in row]
notes = ["Rows: the unknown class c_k (through the autoencoders A(c_i); its test samples against c_i's training "
         "samples; held out of C_k); columns: the known class c_i. C_k has no output for c_k: its diagonal is empty."]
save_figure(sm.output.figure, interclass_figure(panels, f"{label} (MNIST)", columns=3, notes=notes))
