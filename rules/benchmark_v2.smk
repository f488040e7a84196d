# The source-selection benchmark v2 (docs/benchmark/PROTOCOL-v2.md, issue 27), defined only when the
# config has a `benchmark_v2` section (config/benchmark-v2.yaml):
#   snakemake --configfile config/benchmark-v2.yaml --cores 2 benchmark_v2        # every scale, and the scale report
#   snakemake --configfile config/benchmark-v2.yaml --cores 2 benchmark_v2_8120   # one scale alone (its tables)
# Per scale (data.samples_per_dataset), under benchmark_v2.results/scale<N>/: the data and classifier
# splits (the default pipeline's rules on these paths), B(Y) per dataset (every seed, one job), the K
# autoencoders of every dataset per loss (one fused job per loss, with the zoo's Δ(Z|Y) and norms),
# the ground truth per target (the protocol's cells, every seed: one job, rerunnable alone), the
# registered estimators' scores, timings and SimEx's Δ per member per target (one job, one thread),
# your own estimators per target (a job of their own: adding one reruns nothing else), and the tables
# of the scale. Tables go to benchmark_v2.output; nothing is written into docs/ or runs/ unless asked:
#   snakemake --configfile config/benchmark-v2.yaml --cores 2 publish_benchmark_v2
# copies the finished run's tables, score files and logs to runs/benchmark-v2/.

if CONFIG.benchmark_v2 is not None:

    wildcard_constraints:
        scale=r"\d+",
        member=r"\d+",

    rule benchmark_v2:
        input:
            [path for scale in V2_SCALES for path in v2_scale_outputs(scale)],
            expand(f"{V2_OUT}/{{name}}", name=V2_REPORT_FILES),

    for _scale in V2_SCALES:

        rule:
            name:
                f"benchmark_v2_{_scale}"
            input:
                v2_scale_outputs(_scale),

    # --- data: the default pipeline's rules on each scale's paths -------------------------------------

    use rule acquire_dataset as v2_acquire_dataset with:
        input:
            mnist=lambda w: v2_data(w.scale, v2_derived(w.dataset), "raw.npz") if v2_derived(w.dataset) else [],
            mnist_test=lambda w: v2_data(w.scale, v2_derived(w.dataset), "test.npz") if v2_derived(w.dataset) else [],
            user=user_files,
        output:
            raw=v2_data("{scale}", "{dataset}", "raw.npz"),
            record=v2_data("{scale}", "{dataset}", "acquired.json"),
        params:
            sheet_entry=lambda w: vars(SHEET[w.dataset]),
            data=lambda w: {**CONFIG.data.params(), "samples_per_dataset": int(w.scale)},
            seed=CONFIG.seed,
            cache_key="{scale}/{dataset}",
        log:
            f"{V2_DIR}/logs/scale{{scale}}/data/{{dataset}}/acquire.log",

    use rule prepare_dataset as v2_prepare_dataset with:
        input:
            raw=v2_data("{scale}", "{dataset}", "raw.npz"),
            record=v2_data("{scale}", "{dataset}", "acquired.json"),
        output:
            train=v2_data("{scale}", "{dataset}", "train.npz"),
            test=v2_data("{scale}", "{dataset}", "test.npz"),
            provenance=v2_data("{scale}", "{dataset}", "provenance.json"),
        params:
            samples_per_dataset=lambda w: int(w.scale),
            train_test_ratio=CONFIG.data.train_test_ratio,
            seed=CONFIG.seed,
            cache_key="{scale}/{dataset}",
        log:
            f"{V2_DIR}/logs/scale{{scale}}/data/{{dataset}}/prepare.log",

    use rule prepare_classifier_split as v2_classifier_split with:
        input:
            raw=v2_data("{scale}", "{dataset}", "raw.npz"),
        output:
            train=v2_data("{scale}", "{dataset}", "classifier_train.npz"),
            test=v2_data("{scale}", "{dataset}", "classifier_test.npz"),
        params:
            samples_per_dataset=lambda w: int(w.scale),
            train_test_ratio=CONFIG.data.train_test_ratio,
            seed=CONFIG.seed,
        log:
            f"{V2_DIR}/logs/scale{{scale}}/data/{{dataset}}/classifier_split.log",

    # --- models --------------------------------------------------------------------------------------

    use rule benchmark_base_classifiers as v2_base_classifiers with:
        input:
            train=v2_data("{scale}", "{dataset}", "classifier_train.npz"),
            test=v2_data("{scale}", "{dataset}", "classifier_test.npz"),
        output:
            models=expand(f"{V2_DIR}/scale{{{{scale}}}}/base/{{{{dataset}}}}/seed{{s}}.pt", s=V2_SEEDS),
        params:
            base=BENCH.base.params(),
            seed=CONFIG.seed,
            tag="benchmark-v2",
        log:
            f"{V2_DIR}/logs/scale{{scale}}/base/{{dataset}}.log",
        benchmark:
            f"{V2_DIR}/benchmarks/scale{{scale}}/base/{{dataset}}.tsv"

    # K members of every dataset's A(Y) for one loss, one fused job; then the zoo's Δ_k(Z|Y) on every
    # dataset's balanced test split and each dataset's mean L2 norm (untimed: what a zoo precomputes).
    rule v2_autoencoders:
        input:
            train=lambda w: [v2_data(w.scale, d, "train.npz") for d in DATASETS],
            test=lambda w: [v2_data(w.scale, d, "test.npz") for d in DATASETS],
            provenance=lambda w: [v2_data(w.scale, d, "provenance.json") for d in DATASETS],
        output:
            members=[v2_member("{scale}", "{loss}", d, k) for d in DATASETS for k in V2_MEMBERS],
            zoo=f"{V2_DIR}/scale{{scale}}/ae/{{loss}}/zoo.json",
        params:
            datasets=DATASETS,
            members=len(V2_MEMBERS),
            training=CONFIG.autoencoder.params(),
            ssim=CONFIG.ssim.params(),
            eval_batch_size=CONFIG.eval_batch_size,
            seed=CONFIG.seed,
        conda:
            "../environment.yml"
        log:
            f"{V2_DIR}/logs/scale{{scale}}/ae/{{loss}}.log",
        benchmark:
            f"{V2_DIR}/benchmarks/scale{{scale}}/ae/{{loss}}.tsv"
        resources:
            gpu=1,
        threads: JOB_THREADS
        script:
            "../workflow_scripts/benchmark_v2_autoencoders.py"

    # --- ground truth and estimators per target ------------------------------------------------------

    use rule benchmark_ground_truth as v2_ground_truth with:
        input:
            bases=v2_source_bases,
            train=v2_data("{scale}", "{dataset}", "classifier_train.npz"),
            test=v2_data("{scale}", "{dataset}", "classifier_test.npz"),
        output:
            record=f"{V2_DIR}/scale{{scale}}/ground_truth/{{dataset}}.json",
        params:
            sources=lambda w: benchmark_sources(w.dataset),
            seeds=len(V2_SEEDS),
            samples_per_class=V2.sizes,
            cells=[list(cell) for cell in V2.cell_keys],
            tag="benchmark-v2",
            finetune=BENCH.finetune.params(),
            scratch=BENCH.scratch.params(),
            probe=BENCH.probe.params(),
            seed=CONFIG.seed,
        log:
            f"{V2_DIR}/logs/scale{{scale}}/ground_truth/{{dataset}}.log",
        benchmark:
            f"{V2_DIR}/benchmarks/scale{{scale}}/ground_truth/{{dataset}}.tsv"

    V2_ESTIMATOR_PARAMS = dict(
        sources=lambda w: benchmark_sources(w.dataset),
        losses=V2_LOSSES,
        members=len(V2_MEMBERS),
        seeds=len(V2_SEEDS),
        samples_per_class=V2.sizes,
        embedding_loss=BENCH.embedding_loss,
        otdd_max_samples=V2.otdd_max_samples,
        ssim=CONFIG.ssim.params(),
        eval_batch_size=CONFIG.eval_batch_size,
        seed=CONFIG.seed,
    )

    # Timed on one CPU thread, as the protocol fixes: no GPU, threads 1.
    rule v2_estimators:
        input:
            unpack(v2_estimator_inputs),
        output:
            record=f"{V2_DIR}/scale{{scale}}/estimators/{{dataset}}.json",
        params:
            **V2_ESTIMATOR_PARAMS,
            estimators=list(V2.estimators),
            own={},
            simex=True,
        conda:
            "../environment.yml"
        log:
            f"{V2_DIR}/logs/scale{{scale}}/estimators/{{dataset}}.log",
        benchmark:
            f"{V2_DIR}/benchmarks/scale{{scale}}/estimators/{{dataset}}.tsv"
        resources:
            gpu=0,
        threads: 1
        script:
            "../workflow_scripts/benchmark_v2_estimators.py"

    # Your own estimators (benchmark_v2.own_estimators), on the same draws and zoo: a job of their
    # own, so adding one reruns this and the tables, never a ground truth, model or registered score.
    use rule v2_estimators as v2_own_estimators with:
        output:
            record=f"{V2_DIR}/scale{{scale}}/own/{{dataset}}.json",
        params:
            **V2_ESTIMATOR_PARAMS,
            estimators=[],
            own=dict(V2.own_estimators),
            simex=False,
        log:
            f"{V2_DIR}/logs/scale{{scale}}/own/{{dataset}}.log",
        benchmark:
            f"{V2_DIR}/benchmarks/scale{{scale}}/own/{{dataset}}.tsv"

    # --- tables ------------------------------------------------------------------------------------

    V2_JOBS = ["ground_truth", "estimators", *(["own"] if V2.own_estimators else [])]

    rule v2_tables:
        input:
            ground_truth=lambda w: [f"{V2_DIR}/scale{w.scale}/ground_truth/{d}.json" for d in DATASETS],
            estimators=lambda w: [f"{V2_DIR}/scale{w.scale}/estimators/{d}.json" for d in DATASETS],
            own=lambda w: [f"{V2_DIR}/scale{w.scale}/own/{d}.json" for d in DATASETS] if V2.own_estimators else [],
            zoo=lambda w: [f"{V2_DIR}/scale{w.scale}/ae/{loss}/zoo.json" for loss in V2_LOSSES],
            bases=lambda w: [path for d in DATASETS for path in v2_bases(w.scale, d)],
            provenance=lambda w: [v2_data(w.scale, d, "provenance.json") for d in DATASETS],
            job_times=lambda w: [f"{V2_DIR}/benchmarks/scale{w.scale}/{job}/{d}.tsv" for job in V2_JOBS for d in DATASETS]
            + [f"{V2_DIR}/benchmarks/scale{w.scale}/base/{d}.tsv" for d in DATASETS]
            + [f"{V2_DIR}/benchmarks/scale{w.scale}/ae/{loss}.tsv" for loss in V2_LOSSES],
        output:
            **{name.replace(".", "_"): f"{V2_OUT}/scale{{scale}}/{name}" for name in V2_SCALE_FILES},
        params:
            datasets=DATASETS,
            seeds=len(V2_SEEDS),
            members=len(V2_MEMBERS),
            losses=V2_LOSSES,
            cells=[list(cell) for cell in V2.cell_keys],
            headline=V2.headline.params(),
            estimators=list(V2.estimators),
            own=list(V2.own_estimators),
            registered=V2.registered,
            member_draws=V2.member_draws,
            bootstrap=V2.bootstrap,
            confidence=V2.confidence,
            seed=CONFIG.seed,
            command=V2_COMMAND,
            job_logs=lambda w: [f"{V2_DIR}/logs/scale{w.scale}/{job}/{d}.log"
                                for job in ["base", *V2_JOBS] for d in DATASETS]
            + [f"{V2_DIR}/logs/scale{w.scale}/ae/{loss}.log" for loss in V2_LOSSES],
        conda:
            "../environment.yml"
        log:
            f"{V2_DIR}/logs/scale{{scale}}/tables.log",
        threads: 1
        script:
            "../workflow_scripts/benchmark_v2_tables.py"

    rule v2_report:
        input:
            summaries=[f"{V2_OUT}/scale{scale}/summary.csv" for scale in V2_SCALES],
            decisions=[f"{V2_OUT}/scale{scale}/decisions.csv" for scale in V2_SCALES],
            resolution=[f"{V2_OUT}/scale{scale}/resolution.csv" for scale in V2_SCALES],
        output:
            **{name.replace(".", "_"): f"{V2_OUT}/{name}" for name in V2_REPORT_FILES},
        params:
            scales=V2_SCALES,
            headline=V2.headline.params(),
            registered=V2.registered,
            command=V2_COMMAND,
        conda:
            "../environment.yml"
        log:
            f"{V2_DIR}/logs/report.log",
        threads: 1
        script:
            "../workflow_scripts/benchmark_v2_report.py"

    # Publishing is its own target, never a side effect of `benchmark_v2`: runs/benchmark-v2/ gets
    # the tables, figure, score files and logs (jobs.log.gz; keep the run's Snakemake log with
    # `2>&1 | gzip > runs/benchmark-v2/run.log.gz`).
    rule publish_benchmark_v2:
        input:
            [path for scale in V2_SCALES for path in v2_scale_outputs(scale)],
            expand(f"{V2_OUT}/{{name}}", name=V2_REPORT_FILES),
        output:
            directory("runs/benchmark-v2"),
        params:
            source=lambda w, input: os.path.commonpath(input),  # benchmark_v2.output
        conda:
            "../environment.yml"
        log:
            "logs/publish/benchmark_v2.log",
        localrule: True
        shell:
            "(mkdir -p {output} && cp -r {params.source}/. {output}/"
            " && sed -i 's#](\\(PROTOCOL[^)]*\\.md\\))#](../../docs/benchmark/\\1)#g' {output}/README.md"
            " && for f in {output}/scale*/README.md; do sed -i 's#](\\(PROTOCOL[^)]*\\.md\\))#](../../../docs/benchmark/\\1)#g' $f; done) > {log} 2>&1"
