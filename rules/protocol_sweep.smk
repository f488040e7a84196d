# The Table 1 protocol sweep (docs/results/table1-protocol-sweep.md): `snakemake --configfile config/protocol_sweep.yaml protocol_sweep`.
# Defined only when the config has a `protocol_sweep` section. Its data, models and records live under
# protocol_sweep.results, apart from the default run's results/; the table and the figure go to protocol_sweep.output.
# `publish_protocol_sweep` (a target of its own, never a side effect) copies them to runs/protocol-sweep/.
# The data, base-classifier and transfer jobs run the default pipeline's scripts on the sweep's paths.

if CONFIG.protocol_sweep is not None:

    SWEEP = CONFIG.protocol_sweep.params()
    SWEEP_DIR = SWEEP["results"]
    SWEEP_SIZES = list(SWEEP["sizes"])
    SWEEP_SEEDS = list(range(SWEEP["seeds"]))
    SWEEP_COMMAND = "snakemake --configfile config/protocol_sweep.yaml --cores 2 protocol_sweep"

    wildcard_constraints:
        size=r"\d+",
        replicate=r"\d+",

    SWEEP_PROTOCOLS = CONFIG.protocol_sweep.protocol_grid

    rule protocol_sweep:
        input:
            table=f"{SWEEP['output']}/protocol_sweep_table.csv",

    # The data jobs are the default pipeline's rules on the sweep's paths and sizes.
    use rule acquire_dataset as protocol_sweep_acquire_dataset with:
        input:
            # the dataset a regenerated one comes from (rules/common.smk), at the sweep's size
            mnist=lambda w: f"{SWEEP_DIR}/size{w.size}/data/{derived_from(w.dataset)}/raw.npz" if derived_from(w.dataset) else [],
            mnist_test=lambda w: f"{SWEEP_DIR}/size{w.size}/data/{derived_from(w.dataset)}/test.npz" if derived_from(w.dataset) else [],
        output:
            raw=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/raw.npz",
            record=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/acquired.json",
        params:
            sheet_entry=lambda w: vars(SHEET[w.dataset]),
            data=lambda w: {**CONFIG.data.params(), "samples_per_dataset": int(w.size)},
            seed=CONFIG.seed,
            cache_key="{size}/{dataset}",
        log:
            f"{SWEEP_DIR}/logs/size{{size}}/{{dataset}}/acquire.log",

    use rule prepare_dataset as protocol_sweep_prepare_dataset with:
        input:
            raw=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/raw.npz",
            record=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/acquired.json",
        output:
            train=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/train.npz",
            test=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/test.npz",
            provenance=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/provenance.json",
        params:
            samples_per_dataset=lambda w: int(w.size),
            train_test_ratio=CONFIG.data.train_test_ratio,
            seed=CONFIG.seed,
            cache_key="{size}/{dataset}",
        log:
            f"{SWEEP_DIR}/logs/size{{size}}/{{dataset}}/prepare.log",

    use rule prepare_classifier_split as protocol_sweep_classifier_split with:
        input:
            raw=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/raw.npz",
        output:
            train=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/classifier_train.npz",
            test=f"{SWEEP_DIR}/size{{size}}/data/{{dataset}}/classifier_test.npz",
        params:
            samples_per_dataset=lambda w: int(w.size),
            train_test_ratio=CONFIG.data.train_test_ratio,
            seed=CONFIG.seed,
        log:
            f"{SWEEP_DIR}/logs/size{{size}}/{{dataset}}/classifier_split.log",

    rule protocol_sweep_autoencoders:
        input:
            train=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/train.npz", d=DATASETS),
            test=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/test.npz", d=DATASETS),
            provenance=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/provenance.json", d=DATASETS),
        output:
            deltas=f"{SWEEP_DIR}/size{{size}}/seed{{replicate}}/delta_{{loss}}.json",
        params:
            datasets=DATASETS,
            training=CONFIG.autoencoder.params(),
            budgets=SWEEP["ae_steps"],
            ssim=CONFIG.ssim.params(),
            batch_size=CONFIG.eval_batch_size,
            seed=lambda w: CONFIG.classifier.replicate_seed(CONFIG.seed, w.replicate),
        conda:
            "../environment.yml"
        log:
            f"{SWEEP_DIR}/logs/size{{size}}/seed{{replicate}}/autoencoders_{{loss}}.log",
        resources:
            gpu=1,
        threads: JOB_THREADS
        script:
            "../workflow_scripts/protocol_sweep_autoencoders.py"

    # The transfer baseline's rules on the sweep's data, per size and seed replicate.
    use rule train_base_classifiers as protocol_sweep_base_classifiers with:
        input:
            train=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/classifier_train.npz", d=DATASETS),
            test=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/classifier_test.npz", d=DATASETS),
            provenance=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/provenance.json", d=DATASETS),
        output:
            models=expand(f"{SWEEP_DIR}/size{{{{size}}}}/seed{{{{replicate}}}}/base/{{d}}.pt", d=DATASETS),
        log:
            f"{SWEEP_DIR}/logs/size{{size}}/seed{{replicate}}/base.log",
        benchmark:
            f"{SWEEP_DIR}/benchmarks/size{{size}}/seed{{replicate}}/base.tsv"

    use rule transfer_from_base as protocol_sweep_transfer with:
        input:
            models=expand(f"{SWEEP_DIR}/size{{{{size}}}}/seed{{{{replicate}}}}/base/{{d}}.pt", d=DATASETS),
            train=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/classifier_train.npz", d=DATASETS),
            test=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/classifier_test.npz", d=DATASETS),
            provenance=lambda w: expand(f"{SWEEP_DIR}/size{w.size}/data/{{d}}/provenance.json", d=DATASETS),
        output:
            record=f"{SWEEP_DIR}/size{{size}}/seed{{replicate}}/transfer.json",
        params:
            classifier=CONFIG.classifier.params(),
            protocols=SWEEP_PROTOCOLS,
            datasets=DATASETS,
            seed=lambda w: CONFIG.classifier.replicate_seed(CONFIG.seed, w.replicate),
        log:
            f"{SWEEP_DIR}/logs/size{{size}}/seed{{replicate}}/transfer.log",
        benchmark:
            f"{SWEEP_DIR}/benchmarks/size{{size}}/seed{{replicate}}/transfer.tsv"

    rule protocol_sweep_table:
        input:
            deltas=[f"{SWEEP_DIR}/size{size}/seed{r}/delta_{loss}.json"
                    for size in SWEEP_SIZES for r in SWEEP_SEEDS for loss in LOSSES],
            transfers=[f"{SWEEP_DIR}/size{size}/seed{r}/transfer.json" for size in SWEEP_SIZES for r in SWEEP_SEEDS],
        output:
            table=f"{SWEEP['output']}/protocol_sweep_table.csv",
            markdown=f"{SWEEP['output']}/protocol_sweep_table.md",
            figure=f"{SWEEP['output']}/protocol_sweep_figure.png",
        params:
            delta_keys=[[size, r, loss] for size in SWEEP_SIZES for r in SWEEP_SEEDS for loss in LOSSES],
            transfer_keys=[[size, r] for size in SWEEP_SIZES for r in SWEEP_SEEDS],
            command=SWEEP_COMMAND,
        conda:
            "../environment.yml"
        log:
            f"{SWEEP_DIR}/logs/protocol_sweep_table.log",
        threads: 1
        script:
            "../workflow_scripts/protocol_sweep_table.py"

    rule publish_protocol_sweep:
        input:
            table=f"{SWEEP['output']}/protocol_sweep_table.csv",
            markdown=f"{SWEEP['output']}/protocol_sweep_table.md",
            figure=f"{SWEEP['output']}/protocol_sweep_figure.png",
        output:
            table="runs/protocol-sweep/protocol_sweep_table.csv",
            markdown="runs/protocol-sweep/protocol_sweep_table.md",
            figure="runs/protocol-sweep/protocol_sweep_figure.png",
        conda:
            "../environment.yml"
        log:
            "logs/publish/protocol_sweep.log",
        localrule: True
        shell:
            "(cp {input.table} {output.table} && cp {input.markdown} {output.markdown} && cp {input.figure} {output.figure}) > {log} 2>&1"
