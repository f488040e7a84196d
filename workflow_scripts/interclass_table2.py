# Table 2: mean Spearman ρ between the orderings of the other classes by each pair of methods,
# ours beside the paper's, SimEx in the orientation of the paper's definition of confusion
# and (beside it) in the other one.
from simex.base.artifacts import write_csv, write_text
from simex.base.datasets import labels_from_provenance
from simex.experiments.interclass import (CLASSIFIER_METHODS, DEFINITION_ORIENTATION, OTHER_ORIENTATION, OTHER_ORIENTATION_METHODS,
                              SAMPLE_METHODS, SIMEX_METHODS, TABLE2_COLUMNS, per_class_table, read_class_matrix,
                              spearman_table, table2_markdown, table2_matrices, table2_with_paper)
from simex.jobs import start_job

sm = snakemake  # noqa: F821
log = start_job(sm)
label = labels_from_provenance({"M": sm.input.provenance})["M"]
matrices = table2_matrices(
    {SIMEX_METHODS[loss]: read_class_matrix(path) for loss, path in zip(sm.params.losses, sm.input.deltas)},
    {SAMPLE_METHODS[loss]: read_class_matrix(path) for loss, path in zip(sm.params.losses, sm.input.samples)},
    {CLASSIFIER_METHODS[arch]: read_class_matrix(path) for arch, path in zip(sm.params.archs, sm.input.confusions)},
)
combined = table2_with_paper(spearman_table(matrices))
other = table2_with_paper(spearman_table(matrices, rows=[OTHER_ORIENTATION_METHODS[name] for name in SIMEX_METHODS.values()],
                                         columns=TABLE2_COLUMNS))


def budget(section: dict) -> str:
    return f"{section['steps']} steps" if section.get("steps") else f"{section['epochs']} epoch(s)"


pairs = sm.params.max_pairs
notes = [
    "sample-*: mean δ over pairs (test c_k, train c_i)"
    + (f", a seeded subsample of at most {pairs} pairs per pair of classes" if pairs else ", all pairs") + ";",
    "9class-*: mean softmax of C_k (trained without c_k) over c_k's test samples. Losses and distances are "
    "ordered ascending, confusion descending. n/a: a method against itself, or not reported by the paper.",
    f"Per-class autoencoders: {budget(sm.params.class_autoencoder)}, batch {sm.params.class_autoencoder['batch_size']}.",
    "Classifier training: " + "; ".join(
        f"{CLASSIFIER_METHODS[arch]} {s['optimizer']} lr {s['lr']}, {budget(s)}, batch {s['batch_size']}, "
        + (f"{s['samples_per_class']} samples per class" if s.get("samples_per_class") else "all training samples")
        for arch, s in sm.params.classifiers.items()) + ".",
]
tables = [
    (f"Table 2: mean over the classes of {label} of Spearman's ρ between the orderings of the other nine classes by "
     f"two methods; SimEx with {DEFINITION_ORIENTATION}, as C_k meets the unknown class c_k (the paper's definition "
     "of confusion); each cell: ours (paper).", combined),
    (f"SimEx in the other orientation, {OTHER_ORIENTATION}; each cell: ours (the paper's value for that SimEx row).",
     other),
]
write_text(sm.output.markdown, table2_markdown(tables, notes))
combined.insert(0, "dataset", label)
write_csv(sm.output.table, combined, float_format="%.4f")
write_csv(sm.output.per_class, per_class_table(matrices), float_format="%.4f")
write_csv(sm.output.other_orientation, other, float_format="%.4f")
log.info("Table 2 (%s):\n%s\n%s", label, combined.to_string(), other.to_string())
