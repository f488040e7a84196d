# Table 2: mean Spearman ρ between the orderings of the other classes by each pair of methods,
# ours beside the paper's; plus (our addition) SimEx read as Δ(c_k|c_i).
from simex.artifacts import write_csv, write_text
from simex.datasets import labels_from_provenance
from simex.interclass import (CLASSIFIER_METHODS, SAMPLE_METHODS, SIMEX_METHODS, TABLE2_COLUMNS, TRANSPOSED_METHODS,
                              per_class_table, read_class_matrix, spearman_table, table2_markdown, table2_with_paper,
                              transposed)
from simex.jobs import start_job

sm = snakemake  # noqa: F821
log = start_job(sm)
label = labels_from_provenance({"M": sm.input.provenance})["M"]
matrices = {
    **{SIMEX_METHODS[loss]: read_class_matrix(path) for loss, path in zip(sm.params.losses, sm.input.deltas)},
    **{SAMPLE_METHODS[loss]: read_class_matrix(path) for loss, path in zip(sm.params.losses, sm.input.samples)},
    **{CLASSIFIER_METHODS[arch]: read_class_matrix(path) for arch, path in zip(sm.params.archs, sm.input.confusions)},
}
combined = table2_with_paper(spearman_table(matrices))
flipped = {TRANSPOSED_METHODS[name]: transposed(matrices[name]) for name in SIMEX_METHODS.values() if name in matrices}
extra = spearman_table({**matrices, **flipped}, rows=list(flipped), columns=TABLE2_COLUMNS)
pairs = sm.params.max_pairs
notes = [
    "SimEx: Δ(c_i|c_k) of c_i's test samples through A(c_k); sample-*: mean δ over pairs (train c_k, test c_i)"
    + (f", a seeded subsample of at most {pairs} pairs per pair of classes" if pairs else ", all pairs") + ";",
    "9class-*: mean softmax of C_k (trained without c_k) over c_k's test samples. Losses and distances are "
    "ordered ascending, confusion descending. n/a: a method against itself, or not reported by the paper.",
    "Classifier training: " + "; ".join(
        f"{CLASSIFIER_METHODS[arch]} {s['optimizer']} lr {s['lr']}, {s['epochs']} epoch(s), batch {s['batch_size']}, "
        + (f"{s['samples_per_class']} samples per class" if s["samples_per_class"] else "all training samples")
        for arch, s in sm.params.classifiers.items()) + ".",
]
caption = ("Our addition, not in the paper: SimEx read the other way round, row k ordering the other classes by "
           "Δ(c_k|c_i) (c_k's test samples through A(c_i)), as C_k meets c_k:")
write_text(sm.output.markdown, table2_markdown(combined, label, notes, extra, caption))
combined.insert(0, "dataset", label)
write_csv(sm.output.table, combined, float_format="%.4f")
write_csv(sm.output.per_class, per_class_table({**matrices, **flipped}), float_format="%.4f")
write_csv(sm.output.transposed, extra, float_format="%.4f")
log.info("Table 2 (%s):\n%s\n%s", label, combined.to_string(), extra.to_string())
