"""The config schema stops a bad run before any job, naming the key."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys

import pytest
import yaml

from simex import config
from tests.conftest import REPO, copy_workflow, deep_merge, tiny_config


def dry_run(tmp_path, config):
    """`snakemake -n` of a fresh copy of the workflow under ``config``."""
    copy_workflow(tmp_path)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "bad.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"autoencoder": {"epocs": 3}}, "epocs"),
        ({"autoencoder": {"epochs": "ten"}}, "ten"),
        ({"autoencoder": {"lr": -1.0}}, "lr"),
        ({"datasets": ["M", "Q"]}, "Q"),
        ({"data": {"source_chain": ["internet"]}}, "internet"),
        ({"classifier": {"protocols": {"adopted": {"samples_per_class": 10, "fc_init": "base", "frozen": "conv"}}}},
         "classifier.protocols.adopted is now classifier.protocols.few_shot"),
    ],
)
def test_bad_config_stops_before_any_job_and_names_the_problem(tmp_path, override, named):
    result = dry_run(tmp_path, deep_merge(tiny_config(), override))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "validating config" in output.lower() or "validation" in output.lower(), output[-2000:]
    assert named in output, output[-2000:]
    assert "rule acquire_dataset" not in output


def test_paper_config_plans_the_paper_scale_job_set():
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "4", "--configfile",
                             "config/paper.yaml", "--forceall", "--quiet", "rules"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(line.split()[:2] for line in (result.stdout + result.stderr).splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit())
    assert counts["acquire_dataset"] == "5" and counts["prepare_dataset"] == "5"
    assert counts["train_dataset_autoencoders"] == "2"  # {MSE, iSSIM}, each the 5 datasets' autoencoders fused
    assert counts["train_dataset_autoencoder_replicas"] == "2"  # the dataset fleets' replicas 1, 2: one job per loss


def test_an_experiment_the_config_cannot_run_is_skipped_with_a_warning(tmp_path):
    config = deep_merge(tiny_config(), {"datasets": ["E", "F"],
                                        "latency": {"reference": "E", "unknown": "F",
                                                    "training_time": {"base_datasets": ["F"]}}})
    result = dry_run(tmp_path, config)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for experiment in ("fig7", "fig8", "fig1a"):
        assert f"skipping {experiment}: it needs dataset M" in output
    assert "rule pair_classes" not in output and "rule delta_dataset" in output


# --- simex.config: the one config object ---------------------------------------------------


def snakemake_validated(raw):
    """What Snakemake's own validate(set_default=True) makes of ``raw`` (the Snakefile's call)."""
    from snakemake.utils import validate

    config = copy.deepcopy(raw)
    validate(config, str(REPO / "config" / "schema.yaml"), set_default=True)
    return config


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "protocol_sweep.yaml", "interclass.yaml", "tiny"])
def test_validation_fills_the_same_defaults_as_snakemake_and_params_round_trip(name):
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    raw = tiny_config() if name == "tiny" else deep_merge(base, yaml.safe_load((REPO / "config" / name).read_text()))
    ours = config.validated(raw)
    assert ours == snakemake_validated(raw)
    built = config.Config.from_dict(ours)
    # the mappings rules pass to jobs are the validated sections, so params (and the cache's hash) keep their values
    assert json.dumps(built.params(), sort_keys=True) == json.dumps({**ours, "datasets": list(built.datasets)},
                                                                     sort_keys=True)
    assert config.Training.from_dict(built.autoencoder.params()) == built.autoencoder


def test_sections_are_typed_and_frozen():
    built = config.load()
    assert built.autoencoder.epochs == 10 and built.class_autoencoder.epochs is None
    assert built.class_autoencoder.steps == 1000
    assert built.classifier.protocols["as_written"] == config.TransferProtocol(None, "base", "conv")
    assert built.latency.training_time.schedules[0].slug == "rmsprop-0.0002"
    assert built.augmentation.grid == config.Grid((10, 50), (10, 25, 50), 3)
    assert built.datasets == ("M", "E", "R", "B", "F") and built.augmentation_references == ("E", "R", "B", "F")
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.autoencoder.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"autoencoder": {"epocs": 3}}, "epocs"),
        ({"fleets": {"confidence": 1.5}}, "fleets/confidence"),
        ({"datasets": ["M", "Q"]}, "'Q' not in the dataset sheet"),
        ({"latency": {"unknown": "M"}}, "latency.reference and latency.unknown must differ"),
        ({"latency": {"losses": ["issim"]}, "losses": ["mse"]}, "latency.losses: issim"),
        ({"classifier": {"base": {"validation_fraction": 0.0}}}, "classifier.base.validation_fraction must be > 0"),
        ({"augmentation": {"n_borrowed": [500]}}, "augmentation.n_borrowed asks to borrow 500"),
        ({"augmentation": {"pairing_losses": ["issim"]}, "losses": ["mse"],
          "latency": {"losses": ["mse"]}}, "augmentation uses loss 'issim'"),
    ],
)
def test_bad_configs_raise_one_config_error_naming_the_problem(override, named):
    with pytest.raises(config.ConfigError, match=re.escape(named)):
        config.load(REPO / "config" / "config.yaml", override)


@pytest.mark.parametrize(("old", "new"), list(config.RENAMED_KEYS.items()))
def test_a_renamed_key_fails_naming_its_new_name(old, new):
    *parents, leaf = old.split(".")
    override: dict = {leaf: {}}
    for part in reversed(parents):
        override = {part: override}
    with pytest.raises(config.ConfigError, match=re.escape(f"{old} is now {new}")):
        config.load(REPO / "config" / "config.yaml", override)


def test_config_yaml_states_only_what_the_default_run_chooses():
    """config/config.yaml repeats no schema default: leaving out any one of its settings makes the
    validated config another one, or invalid (a key every config must state)."""
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    full = config.validated(raw)

    def leaves(node, path=()):
        for key, value in node.items():
            yield from leaves(value, (*path, key)) if isinstance(value, dict) and value else [(*path, key)]

    repeated = []
    for path in leaves(raw):
        trimmed = copy.deepcopy(raw)
        parent = trimmed
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        try:
            if config.validated(trimmed) == full:
                repeated.append(".".join(path))
        except config.ConfigError:
            pass  # a key a config must state
    assert not repeated, f"config/config.yaml repeats the schema's defaults of {repeated}"


def test_the_augmentation_grid_is_only_checked_when_fig7_runs():
    # without MNIST Fig. 7 is skipped, so a grid the data could not supply is no error
    built = config.load(REPO / "config" / "config.yaml",
                        {"datasets": ["E", "F"], "augmentation": {"n_borrowed": [500]},
                         "latency": {"reference": "E", "unknown": "F", "training_time": {"base_datasets": ["F"]}}})
    assert built.augmentation_skipped() and not built.augmentation_problems()


def test_schema_defaults_are_the_cli_defaults():
    from simex.cli import build_parser

    rank = build_parser().parse_args(["rank", "--fleet", "f", "--data", "d"])
    assert (rank.bootstrap, rank.confidence, rank.batch_size, rank.budget, rank.step, rank.min_samples) == \
        (1000, 0.95, 1024, 5000, 128, 128)
    assert config.schema_default("fleets") == {"members": 3, "bootstrap": 1000, "confidence": 0.95, "batch_size": 1024,
                                               "express": {"budget": 5000, "step": 128, "min_samples": 128,
                                                           "check_resamples": 200}}
    build = build_parser().parse_args(["fleet", "build", "--out", "o", "--loss", "mse", "a=b"])
    assert (build.epochs, build.batch_size, build.lr, build.members) == (10, 32, 0.001, 3)
    assert config.SSIMWindow.default() == config.SSIMWindow(11, 1.5)
    with pytest.raises(KeyError, match="no default for seed"):
        config.schema_default("seed")


def test_derived_seeds_are_stable_and_distinct():
    assert config.derived_seed(20190617, "ae", "M", "mse", None) == config.derived_seed(20190617, "ae", "M", "mse", None)
    assert len({config.derived_seed(1, "ae", code) for code in "MERBF"}) == 5
    assert 0 <= config.derived_seed(2**40, "x") < 2**31


def test_config_imports_no_torch():
    code = "import sys, simex.config; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "False"
