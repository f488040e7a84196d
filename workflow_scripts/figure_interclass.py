# Fig. 8: inter-class similarity / confusion in MNIST, darker = more similar / confusing.
from simex.artifacts import save_figure
from simex.datasets import labels_from_provenance
from simex.interclass import CLASSIFIER_METHODS, SAMPLE_METHODS, SIMEX_METHODS, read_class_matrix
from simex.jobs import start_job
from simex.plots import interclass_figure

sm = snakemake  # noqa: F821
start_job(sm)
label = labels_from_provenance({"M": sm.input.provenance})["M"]
simex = [(read_class_matrix(p), f"{SIMEX_METHODS[loss]}: Δ(c_i|c_k)", "low", "{:.3f}")
         for loss, p in zip(sm.params.losses, sm.input.deltas)]
sample = [(read_class_matrix(p), f"{SAMPLE_METHODS[loss]}: mean δ(c_k, c_i)", "low", "{:.3f}")
          for loss, p in zip(sm.params.losses, sm.input.samples)]
confusion = [(read_class_matrix(p), f"{CLASSIFIER_METHODS[arch]}: mean softmax of C_k at c_i", "high", "{:.2f}")
             for arch, p in zip(sm.params.archs, sm.input.confusions)]
# The paper's panels (MSE first) in the top row, the iSSIM variants it omits below.
rows = [[simex[0], sample[0], *confusion[:1]], [*simex[1:], *sample[1:], *confusion[1:]]]
panels = [panel for row in rows for panel in row]
notes = ["Rows: class c_k (the autoencoder's class, the held-out class of C_k); columns: class c_i. "
         "C_k has no output for c_k: its diagonal is empty."]
save_figure(sm.output.figure, interclass_figure(panels, f"{label} (MNIST)", columns=3, notes=notes))
