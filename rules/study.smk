# The Table 1 protocol sweep (docs/results/table1-protocol-sweep.md): `snakemake --configfile config/study.yaml study`.
# Defined only when the config has a `study` section. Its data, models and records live under
# study.results, apart from the default run's results/; the table and the figure go to study.output.
# `publish_study` (a target of its own, never a side effect) copies them to runs/study/.
# The data, base-classifier and transfer jobs run the default pipeline's scripts on the study's paths.

if CONFIG.study is not None:

    STUDY = CONFIG.study.params()
    STUDY_DIR = STUDY["results"]
    STUDY_SIZES = list(STUDY["sizes"])
    STUDY_SEEDS = list(range(STUDY["seeds"]))
    STUDY_COMMAND = "snakemake --configfile config/study.yaml --cores 2 study"

    wildcard_constraints:
        size=r"\d+",
        replicate=r"\d+",

    STUDY_PROTOCOLS = CONFIG.study.protocol_grid

    rule study:
        input:
            table=f"{STUDY['output']}/study_table.csv",

    # The data jobs are the default pipeline's rules on the study's paths and sizes.
    use rule acquire_dataset as study_acquire_dataset with:
        input:
            mnist=lambda w: f"{STUDY_DIR}/size{w.size}/data/M/raw.npz" if w.dataset in ("R", "B") else [],
            mnist_test=lambda w: f"{STUDY_DIR}/size{w.size}/data/M/test.npz" if w.dataset in ("R", "B") else [],
        output:
            raw=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/raw.npz",
            record=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/acquired.json",
        params:
            sheet_entry=lambda w: vars(SHEET[w.dataset]),
            data=lambda w: {**CONFIG.data.params(), "samples_per_dataset": int(w.size)},
            seed=CONFIG.seed,
            cache_key="{size}/{dataset}",
        log:
            f"{STUDY_DIR}/logs/size{{size}}/{{dataset}}/acquire.log",

    use rule prepare_dataset as study_prepare_dataset with:
        input:
            raw=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/raw.npz",
            record=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/acquired.json",
        output:
            train=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/train.npz",
            test=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/test.npz",
            provenance=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/provenance.json",
        params:
            samples_per_dataset=lambda w: int(w.size),
            train_test_ratio=CONFIG.data.train_test_ratio,
            seed=CONFIG.seed,
            cache_key="{size}/{dataset}",
        log:
            f"{STUDY_DIR}/logs/size{{size}}/{{dataset}}/prepare.log",

    use rule prepare_classifier_split as study_classifier_split with:
        input:
            raw=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/raw.npz",
        output:
            train=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/classifier_train.npz",
            test=f"{STUDY_DIR}/size{{size}}/data/{{dataset}}/classifier_test.npz",
        params:
            samples_per_dataset=lambda w: int(w.size),
            train_test_ratio=CONFIG.data.train_test_ratio,
            seed=CONFIG.seed,
        log:
            f"{STUDY_DIR}/logs/size{{size}}/{{dataset}}/classifier_split.log",

    rule study_autoencoders:
        input:
            train=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/train.npz", d=DATASETS),
            test=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/test.npz", d=DATASETS),
            provenance=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/provenance.json", d=DATASETS),
        output:
            deltas=f"{STUDY_DIR}/size{{size}}/seed{{replicate}}/delta_{{loss}}.json",
        params:
            datasets=DATASETS,
            training=CONFIG.autoencoder.params(),
            budgets=STUDY["ae_steps"],
            ssim=CONFIG.ssim.params(),
            batch_size=CONFIG.eval_batch_size,
            seed=lambda w: CONFIG.classifier.replicate_seed(CONFIG.seed, w.replicate),
        conda:
            "../environment.yml"
        log:
            f"{STUDY_DIR}/logs/size{{size}}/seed{{replicate}}/autoencoders_{{loss}}.log",
        resources:
            gpu=1,
        threads: JOB_THREADS
        script:
            "../workflow_scripts/study_autoencoders.py"

    # The transfer baseline's rules on the study's data, per size and seed replicate.
    use rule train_base_classifiers as study_base_classifiers with:
        input:
            train=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/classifier_train.npz", d=DATASETS),
            test=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/classifier_test.npz", d=DATASETS),
            provenance=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/provenance.json", d=DATASETS),
        output:
            models=expand(f"{STUDY_DIR}/size{{{{size}}}}/seed{{{{replicate}}}}/base/{{d}}.pt", d=DATASETS),
        log:
            f"{STUDY_DIR}/logs/size{{size}}/seed{{replicate}}/base.log",
        benchmark:
            f"{STUDY_DIR}/benchmarks/size{{size}}/seed{{replicate}}/base.tsv"

    use rule transfer_from_base as study_transfer with:
        input:
            models=expand(f"{STUDY_DIR}/size{{{{size}}}}/seed{{{{replicate}}}}/base/{{d}}.pt", d=DATASETS),
            train=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/classifier_train.npz", d=DATASETS),
            test=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/classifier_test.npz", d=DATASETS),
            provenance=lambda w: expand(f"{STUDY_DIR}/size{w.size}/data/{{d}}/provenance.json", d=DATASETS),
        output:
            record=f"{STUDY_DIR}/size{{size}}/seed{{replicate}}/transfer.json",
        params:
            classifier=CONFIG.classifier.params(),
            protocols=STUDY_PROTOCOLS,
            datasets=DATASETS,
            seed=lambda w: CONFIG.classifier.replicate_seed(CONFIG.seed, w.replicate),
        log:
            f"{STUDY_DIR}/logs/size{{size}}/seed{{replicate}}/transfer.log",
        benchmark:
            f"{STUDY_DIR}/benchmarks/size{{size}}/seed{{replicate}}/transfer.tsv"

    rule study_table:
        input:
            deltas=[f"{STUDY_DIR}/size{size}/seed{r}/delta_{loss}.json"
                    for size in STUDY_SIZES for r in STUDY_SEEDS for loss in LOSSES],
            transfers=[f"{STUDY_DIR}/size{size}/seed{r}/transfer.json" for size in STUDY_SIZES for r in STUDY_SEEDS],
        output:
            table=f"{STUDY['output']}/study_table.csv",
            markdown=f"{STUDY['output']}/study_table.md",
            figure=f"{STUDY['output']}/study_figure.png",
        params:
            delta_keys=[[size, r, loss] for size in STUDY_SIZES for r in STUDY_SEEDS for loss in LOSSES],
            transfer_keys=[[size, r] for size in STUDY_SIZES for r in STUDY_SEEDS],
            command=STUDY_COMMAND,
        conda:
            "../environment.yml"
        log:
            f"{STUDY_DIR}/logs/study_table.log",
        threads: 1
        script:
            "../workflow_scripts/study_table.py"

    rule publish_study:
        input:
            table=f"{STUDY['output']}/study_table.csv",
            markdown=f"{STUDY['output']}/study_table.md",
            figure=f"{STUDY['output']}/study_figure.png",
        output:
            table="runs/study/study_table.csv",
            markdown="runs/study/study_table.md",
            figure="runs/study/study_figure.png",
        localrule: True
        shell:
            "cp {input.table} {output.table} && cp {input.markdown} {output.markdown} && cp {input.figure} {output.figure}"
