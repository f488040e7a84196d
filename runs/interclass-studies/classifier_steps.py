"""Study: how many optimizer steps does Fig. 7's 10-class LeNet-5 need?

Trains the augmentation classifier (`augmentation.classifier` of the default config, the
budget in steps varied) without borrowing at n(c_M) = 10 and 50, and with 50 samples a
class borrowed from B† and F (class i paired with class i) at n(c_M) = 10, two trials each;
tests on Fig. 7's test set (MNIST's published test split less the digits training may
have seen). The budget is chosen where accuracy without borrowing stops rising.

    PYTHONPATH=. nice -n 10 .venv/bin/python docs/interclass/classifier_steps.py

after `snakemake results/tables/augmentation/mnist_test.npz` of the default run.
Writes docs/interclass/classifier_steps.csv.
"""

from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch


from simex.inference.evaluate import accuracy
from simex.experiments.augmentation import (mnist_orders, reference_orders, train_classifier,
                                training_seed, training_set)
from simex.config import load
from simex.data.acquire import load_split

HERE = Path(__file__).parent
STEPS = (100, 200, 400, 800)
torch.set_num_threads(1)
config = load()  # config/config.yaml with the schema's defaults, as the pipeline sees it
section, seed = config.augmentation.classifier, config.seed
device = torch.device("cpu")
mnist = load_split("results/data/M/train.npz")
test = load_split("results/tables/augmentation/mnist_test.npz")
references = {code: load_split(f"results/data/{code}/train.npz") for code in ("B", "F")}
identity = {i: i for i in range(10)}
rows = []
for trial in range(2):
    m_orders = mnist_orders(mnist[1], seed, trial)
    runs = [("none", 10, None, 0), ("none", 50, None, 0), ("B", 10, "B", 50), ("F", 10, "F", 50)]
    for steps in STEPS:
        settings = replace(section, steps=steps)
        for name, n_mnist, code, n_borrowed in runs:
            reference = references.get(code)
            orders = reference_orders(reference[1], 10, seed, code, trial) if reference is not None else ()
            data = training_set(mnist, m_orders, n_mnist, reference, orders, identity if code else None, n_borrowed)
            model = train_classifier(data, settings, training_seed(seed, trial, n_mnist, n_borrowed), device)
            rows.append({"borrowed_from": name, "n_mnist": n_mnist, "n_borrowed": n_borrowed, "steps": steps,
                         "trial": trial, "accuracy": accuracy(model, *test, device)})
            print(rows[-1], flush=True)
frame = pd.DataFrame(rows)
frame.to_csv(HERE / "classifier_steps.csv", index=False, float_format="%.4f")
print(frame.pivot_table(index=["borrowed_from", "n_mnist"], columns="steps", values="accuracy", aggfunc="mean").round(3))
