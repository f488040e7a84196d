# The source-selection benchmark (docs/benchmark/PROTOCOL.md, issue 19):
#   snakemake --configfile config/benchmark.yaml --cores 2 benchmark
# Per source Y, its base classifiers B(Y) (every seed, one job); per target X, the ground
# truth (every source × protocol × n × seed, and scratch: one job, rerunnable alone) and
# the estimators' scores and timings (one job); then the tables and figure in
# benchmark.output. The data, A(Y) and the classifier splits are the default run's.
# The tables go to benchmark.output (results/benchmark/tables); nothing is written into docs/ or runs/
# unless asked: `snakemake --configfile config/benchmark.yaml --cores 2 publish_benchmark` copies a
# finished run's tables, figure and report to runs/benchmark/ (`runs/<name>` as the target: any other
# name starting with benchmark), jobs.log gzip-compressed. Keep the run's Snakemake log with
# `2>&1 | gzip > runs/<name>/run.log.gz`.

from pathlib import Path

BENCH = CONFIG.benchmark
BENCH_DIR = BENCH.results
BENCH_OUT = BENCH.output
BENCH_SEEDS = list(range(BENCH.seeds))
BENCH_COMMAND = "snakemake --configfile config/benchmark.yaml --cores 2 benchmark"
BENCH_LOSSES = ["mse", "issim"]  # SimEx-MSE and SimEx-iSSIM
BENCH_OUTPUTS = ["estimators.csv", "estimators.md", "metrics.csv", "timings.csv", "per_target.csv", "per_target.md",
                 "ground_truth.csv", "ground_truth.md", "benchmark.png", "README.md", "jobs.log"]


rule benchmark:
    input:
        expand(f"{BENCH_OUT}/{{name}}", name=BENCH_OUTPUTS),


rule benchmark_base_classifiers:
    input:
        train=data_file("{dataset}", "classifier_train.npz"),
        test=data_file("{dataset}", "classifier_test.npz"),
    output:
        models=expand(f"{BENCH_DIR}/base/{{{{dataset}}}}/seed{{s}}.pt", s=BENCH_SEEDS),
    params:
        base=BENCH.base.params(),
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        f"{BENCH_DIR}/logs/base/{{dataset}}.log",
    benchmark:
        f"{BENCH_DIR}/benchmarks/base/{{dataset}}.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/benchmark_base.py"


rule benchmark_ground_truth:
    input:
        bases=lambda w: [path for y in benchmark_sources(w.dataset) for path in benchmark_bases(y)],
        train=data_file("{dataset}", "classifier_train.npz"),
        test=data_file("{dataset}", "classifier_test.npz"),
    output:
        record=f"{BENCH_DIR}/ground_truth/{{dataset}}.json",
    params:
        sources=lambda w: benchmark_sources(w.dataset),
        seeds=len(BENCH_SEEDS),
        samples_per_class=list(BENCH.samples_per_class),
        finetune=BENCH.finetune.params(),
        scratch=BENCH.scratch.params(),
        probe=BENCH.probe.params(),
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        f"{BENCH_DIR}/logs/ground_truth/{{dataset}}.log",
    benchmark:
        f"{BENCH_DIR}/benchmarks/ground_truth/{{dataset}}.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/benchmark_ground_truth.py"


# Timed on one CPU thread, as the protocol fixes: no GPU, threads 1.
rule benchmark_estimators:
    input:
        bases=lambda w: [path for y in benchmark_sources(w.dataset) for path in benchmark_bases(y)],
        autoencoders=lambda w: [dataset_ae(y, loss) for y in benchmark_sources(w.dataset) for loss in BENCH_LOSSES],
        source_train=lambda w: [data_file(y, "train.npz") for y in benchmark_sources(w.dataset)],
        source_classifier_train=lambda w: [data_file(y, "classifier_train.npz") for y in benchmark_sources(w.dataset)],
        train=data_file("{dataset}", "classifier_train.npz"),
    output:
        record=f"{BENCH_DIR}/estimators/{{dataset}}.json",
    params:
        sources=lambda w: benchmark_sources(w.dataset),
        losses=BENCH_LOSSES,
        seeds=len(BENCH_SEEDS),
        samples_per_class=list(BENCH.samples_per_class),
        embedding_loss=BENCH.embedding_loss,
        otdd_max_samples=BENCH.otdd_max_samples,
        ssim=CONFIG.ssim.params(),
        eval_batch_size=CONFIG.eval_batch_size,
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        f"{BENCH_DIR}/logs/estimators/{{dataset}}.log",
    benchmark:
        f"{BENCH_DIR}/benchmarks/estimators/{{dataset}}.tsv"
    resources:
        gpu=0,
    threads: 1
    script:
        "../workflow_scripts/benchmark_estimators.py"


rule benchmark_tables:
    input:
        ground_truth=expand(f"{BENCH_DIR}/ground_truth/{{d}}.json", d=DATASETS),
        estimators=expand(f"{BENCH_DIR}/estimators/{{d}}.json", d=DATASETS),
        job_times=expand(f"{BENCH_DIR}/benchmarks/{{job}}/{{d}}.tsv", job=["ground_truth", "estimators"], d=DATASETS),
        provenance=expand(data_file("{d}", "provenance.json"), d=DATASETS),
    output:
        **{name.replace(".", "_"): f"{BENCH_OUT}/{name}" for name in BENCH_OUTPUTS},
    params:
        datasets=DATASETS,
        unseen=list(BENCH.unseen),
        headline=BENCH.headline.params(),
        bootstrap=BENCH.bootstrap,
        confidence=BENCH.confidence,
        seed=CONFIG.seed,
        command=BENCH_COMMAND,
        job_logs=expand(f"{BENCH_DIR}/logs/{{job}}/{{d}}.log", job=["ground_truth", "estimators"], d=DATASETS),
    conda:
        "../environment.yml"
    log:
        f"{BENCH_DIR}/logs/tables.log",
    threads: 1
    script:
        "../workflow_scripts/benchmark_tables.py"


# Publishing is its own target, never a side effect of `benchmark`. The report's relative link
# to its protocol is rewritten to reach docs/benchmark/ from runs/<name>/.
rule publish_benchmark:
    input:
        f"runs/{Path(BENCH_DIR).name}",


rule publish_benchmark_run:
    input:
        expand(f"{BENCH_OUT}/{{name}}", name=BENCH_OUTPUTS),
    output:
        directory("runs/{run}"),
    wildcard_constraints:
        run=r"benchmark[^/]*",
    conda:
        "../environment.yml"
    log:
        "logs/publish/{run}.log",
    localrule: True
    shell:
        "(mkdir -p {output} && cp {input} {output}/ && gzip -9n {output}/jobs.log"
        " && sed -i 's#](\\(PROTOCOL[^)]*\\.md\\))#](../../docs/benchmark/\\1)#g' {output}/README.md) > {log} 2>&1"
