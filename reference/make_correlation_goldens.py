"""Goldens for Pearson's and Spearman's correlation (reference/goldens/correlation.json):
scipy.stats.pearsonr and spearmanr on data like a task's series against loss: an
accuracy that rises as loss falls, with repeated values (ties share their mean rank),
a noisy curve, and a flat-then-rising one.

usage: bash reference/make_correlation_goldens.sh
"""

import json
import os

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rng = np.random.default_rng(7)
    loss = np.round(np.sort(rng.uniform(0.9, 4.5, 40))[::-1], 3)
    cases = {
        "ties": (np.array([4.5, 3.2, 3.2, 2.0, 1.5, 1.5, 1.1, 0.9]),
                 np.array([0.25, 0.25, 0.26, 0.25, 0.4, 0.7, 0.7, 0.95])),
        "noisy": (loss, 0.25 + 0.15 * (4.5 - loss) + rng.normal(0, 0.05, loss.size)),
        "hinge": (loss, np.round(0.25 + 0.5 * np.maximum(0, 1.3 - loss) + rng.normal(0, 0.02, loss.size), 2)),
    }
    out = {"versions": {"numpy": np.__version__, "scipy": __import__("scipy").__version__}}
    for name, (x, y) in cases.items():
        out[name] = {"x": x.tolist(), "y": y.tolist(),
                     "pearson": float(stats.pearsonr(x, y).statistic),
                     "spearman": float(stats.spearmanr(x, y).statistic)}
    with open(os.path.join(HERE, "goldens", "correlation.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
