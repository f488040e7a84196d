"""Study: is the augmentation experiment (Fig. 7) fed what it should be?

Checks, on the default run's prepared data: the intensity range, ink and centring of every
dataset's train split against MNIST's; the MNIST test split the experiment used to test on
(the prepared one) against MNIST's published test split; and how many of MNIST's test
digits the regenerated R† and B† were made from.

    PYTHONPATH=. .venv/bin/python docs/interclass/data_checks.py   # after the data jobs of the default run

Writes docs/interclass/data_checks.md.
"""

from pathlib import Path

import numpy as np

from simex.base.artifacts import read_json
from simex.config import load
from simex.data.acquire import acquisition_plan, load_raw, load_split, regeneration_sources

HERE = Path(__file__).parent
config = load()  # config/config.yaml with the schema's defaults, as the pipeline sees it


def image_stats(images: np.ndarray) -> dict[str, float]:
    pixels = images.astype(float) / 255
    ys, xs = np.mgrid[0:28, 0:28]
    mass = pixels.sum((1, 2))
    cy, cx = (pixels * ys).sum((1, 2)) / mass, (pixels * xs).sum((1, 2)) / mass
    return {"min": pixels.min(), "max (median of per-image max)": np.median(pixels.max((1, 2))),
            "mean": pixels.mean(), "corner (median)": np.median(pixels[:, :3, :3]),
            "centre of mass y": cy.mean(), "centre of mass x": cx.mean(),
            "spread of centre (px)": float(np.sqrt(cy.var() + cx.var()))}


lines = ["# Data checks for Fig. 7 (default run)", "", "Command: `PYTHONPATH=. .venv/bin/python docs/interclass/data_checks.py`",
         "", "## Intensity and centring of the train splits (pixels in [0, 1])", ""]
stats = {code: image_stats(load_split(f"results/data/{code}/train.npz")[0]) for code in "MERBF"}
keys = list(stats["M"])
lines += ["| dataset | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
lines += [f"| {code} | " + " | ".join(f"{v:.3f}" for v in values.values()) + " |" for code, values in stats.items()]

raw = load_raw(Path("results/data/M/raw.npz"))
raw_images, raw_labels = raw.images, raw.labels
published_train = read_json("results/data/M/provenance.json")["details"]["published_split_sizes"][0]
row_of = {image.tobytes(): row for row, image in enumerate(raw_images)}
rows = {split: np.array([row_of[image.tobytes()] for image in load_split(f"results/data/M/{split}.npz")[0]])
        for split in ("train", "test")}
test_labels = load_split("results/data/M/test.npz")[1]
lines += ["", "## MNIST's splits", "",
          f"- prepared test split (what Fig. 7 tested on before): {len(test_labels)} images, "
          f"{np.bincount(test_labels).tolist()} a class; {int((rows['test'] >= published_train).sum())} of them "
          "from MNIST's published test split, the rest from its train split",
          f"- prepared train split: {len(rows['train'])} images, {int((rows['train'] >= published_train).sum())} "
          "from MNIST's published test split"]
for code in ("R", "B"):
    if read_json(f"results/data/{code}/provenance.json")["provenance"] != "regenerated":
        continue
    plan = acquisition_plan(config.data, config.seed, code, Path("results/downloads"), None, Path("results/data/M/test.npz"))
    sources = regeneration_sources(plan, raw)[0]
    lines.append(f"- {code}† is regenerated from {len(sources)} MNIST digits: {len(np.intersect1d(sources, rows['test']))} "
                 f"are in M's prepared test split, {len(np.intersect1d(sources, rows['train']))} in its train split, "
                 f"{int((sources >= published_train).sum())} in MNIST's published test split")
(HERE / "data_checks.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
