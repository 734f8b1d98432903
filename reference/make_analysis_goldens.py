"""Goldens for the analysis crate, fitted independently with NumPy and SciPy on
synthetic data with known parameters (reference/goldens/analysis.json):

- the scaling law L(N, D) = E + A/N^alpha + B/D^beta, Huber (delta 1e-3) on log-loss,
  scipy.optimize.minimize(L-BFGS-B) from Hoffmann et al.'s grid of 4,500 starts;
- one run's loss curve L(D) = E + B/D^beta, the same objective without the N term;
- the break-point model y = b + s*max(0, eta - x) with a known baseline b, weighted
  least squares with weights 1/stderr^2 (eta by scipy.optimize.brute then
  minimize_scalar), the flat and quadratic alternatives (numpy.polyfit), and AICs;
- the verdict's shapes (a break with a free level, power law, exponential, sigmoid)
  fitted by scipy.optimize.least_squares from a grid of starts on every parameter, on
  the break data and on a smooth sigmoid: the minimised chi^2 of each.

usage: VENV=... bash reference/make_analysis_goldens.sh
"""

import itertools
import json
import os

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

DELTA = 1e-3
HERE = os.path.dirname(os.path.abspath(__file__))


def huber(r):
    a = np.abs(r)
    return np.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA))


def scaling_objective(p, ln_n, ln_d, ln_l):
    a, b, e, alpha, beta = p
    pred = logsumexp(np.stack([a - alpha * ln_n, b - beta * ln_d, np.full_like(ln_d, e)]), axis=0)
    return huber(pred - ln_l).sum()


def curve_objective(p, ln_d, ln_l):
    b, e, beta = p
    pred = logsumexp(np.stack([b - beta * ln_d, np.full_like(ln_d, e)]), axis=0)
    return huber(pred - ln_l).sum()


def best_fit(objective, starts):
    best = None
    for s in starts:
        r = optimize.minimize(objective, np.array(s, float), method="L-BFGS-B",
                              options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
        if best is None or r.fun < best.fun:
            best = r
    return best


def scaling_golden(rng):
    truth = dict(e=1.69, a=406.4, b=410.7, alpha=0.34, beta=0.28)
    pts = []
    for n in [1e7, 3e7, 1e8, 3e8, 1e9]:
        for d in [1e9, 3e9, 1e10, 3e10, 1e11, 3e11]:
            loss = truth["e"] + truth["a"] / n ** truth["alpha"] + truth["b"] / d ** truth["beta"]
            pts.append(dict(params=n, tokens=d, loss=float(loss * np.exp(0.005 * rng.standard_normal()))))
    ln_n = np.log([p["params"] for p in pts])
    ln_d = np.log([p["tokens"] for p in pts])
    ln_l = np.log([p["loss"] for p in pts])
    ab, e, ex = np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5), np.arange(0, 2.5, 0.5)
    starts = [[a, b, ee, al, be] for a, b, ee, al, be in itertools.product(ab, ab, e, ex, ex)]
    r = best_fit(lambda p: scaling_objective(p, ln_n, ln_d, ln_l), starts)
    a, b, ee, alpha, beta = r.x
    fit = dict(e=float(np.exp(ee)), a=float(np.exp(a)), b=float(np.exp(b)),
               alpha=float(alpha), beta=float(beta), objective=float(r.fun))
    return dict(truth=truth, points=pts, fit=fit)


def curve_golden(rng):
    truth = dict(e=2.0, b=80.0, beta=0.3)
    tokens = np.geomspace(1e7, 1e9, 10)
    loss = truth["e"] + truth["b"] / tokens ** truth["beta"]
    loss = loss * np.exp(0.003 * rng.standard_normal(len(tokens)))
    ln_d, ln_l = np.log(tokens), np.log(loss)
    starts = list(itertools.product(np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5), np.arange(0, 2.5, 0.5)))
    r = best_fit(lambda p: curve_objective(p, ln_d, ln_l), starts)
    b, e, beta = r.x
    return dict(truth=truth, tokens=tokens.tolist(), loss=loss.tolist(),
                fit=dict(e=float(np.exp(e)), b=float(np.exp(b)), beta=float(beta), objective=float(r.fun)))


def threshold_golden(rng):
    base, eta, slope = 0.25, 2.4, 0.35
    x = np.sort(rng.uniform(1.8, 3.6, 40))
    se = np.full_like(x, 0.02)
    # Flat at the baseline above eta, rising as the loss falls below it.
    y = base + slope * np.maximum(0.0, eta - x) + se * rng.standard_normal(len(x))
    w = 1.0 / se ** 2

    def chi2_at(e):
        h = np.maximum(0.0, e - x)
        denom = np.sum(w * h * h)
        s = np.sum(w * h * (y - base)) / denom if denom > 0 else 0.0
        return float(np.sum(w * (y - base - s * h) ** 2)), float(s)

    grid = optimize.brute(lambda e: chi2_at(e[0])[0], [(x.min(), x.max())], Ns=400, finish=None)
    step = (x.max() - x.min()) / 399
    r = optimize.minimize_scalar(lambda e: chi2_at(e)[0], bounds=(grid - step, grid + step),
                                 method="bounded", options={"xatol": 1e-10})
    eta_hat = float(r.x)
    chi2_break, s_hat = chi2_at(eta_hat)
    chi2_flat = float(np.sum(w * (y - base) ** 2))
    coef = np.polyfit(x, y, 2, w=np.sqrt(w))
    chi2_smooth = float(np.sum(w * (y - np.polyval(coef, x)) ** 2))
    return dict(truth=dict(baseline=base, eta=eta, slope=slope), x=x.tolist(), y=y.tolist(),
                stderr=se.tolist(),
                fit=dict(eta=eta_hat, slope=s_hat, chi2_break=chi2_break,
                         aic_flat=chi2_flat, aic_break=chi2_break + 4.0,
                         aic_smooth=chi2_smooth + 6.0))


def shape_fits(x, y, se):
    """Minimised chi^2 of each nonlinear shape, t = progress (hi - x)/(hi - lo)."""
    lo, hi = x.min(), x.max()
    t = (hi - x) / (hi - lo)
    z = x / hi
    models = {
        "break": (lambda p: p[0] + p[1] * np.maximum(0.0, p[2] - x),
                  itertools.product([0.2, 0.3], [0.1, 0.5], np.linspace(lo, hi, 25))),
        "power": (lambda p: p[0] + p[1] * z ** p[2],
                  itertools.product([0.0, 0.5], [-1.0, 1.0], np.linspace(-12, 12, 25))),
        "exponential": (lambda p: p[0] + p[1] * np.exp(p[2] * t),
                        itertools.product([0.0, 0.5], [-1.0, 1.0], np.linspace(-12, 12, 25))),
        "sigmoid": (lambda p: p[0] + p[1] / (1.0 + np.exp(-p[2] * (t - p[3]))),
                    itertools.product([0.2], [0.5], np.geomspace(0.5, 80, 12),
                                      np.linspace(-0.5, 1.5, 9))),
    }
    out = {}
    for name, (f, starts) in models.items():
        best = None
        for s in starts:
            try:
                r = optimize.least_squares(lambda p: (y - f(p)) / se, np.array(s, float),
                                           xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=5000)
            except ValueError:
                continue
            chi2 = float(np.sum(r.fun ** 2))
            if np.isfinite(chi2) and (best is None or chi2 < best[0]):
                best = (chi2, r.x.tolist())
        out[name] = dict(chi2=best[0], params=best[1])
    return out


def shapes_golden(rng, threshold):
    x = np.array(threshold["x"])
    se = np.array(threshold["stderr"])
    y_break = np.array(threshold["y"])
    t = (x.max() - x) / (x.max() - x.min())
    y_sig = 0.25 + 0.5 / (1.0 + np.exp(-7.0 * (t - 0.55))) + se * rng.standard_normal(len(x))
    return dict(x=x.tolist(), stderr=se.tolist(),
                sets=dict(break_data=dict(y=y_break.tolist(), fit=shape_fits(x, y_break, se)),
                          sigmoid_data=dict(y=y_sig.tolist(), fit=shape_fits(x, y_sig, se))))


def main():
    """All sections; with `shapes` as the argument, only that one, on the threshold
    data already in the file (the scaling section's 4,500 starts take an hour)."""
    import sys
    path = os.path.join(HERE, "goldens", "analysis.json")
    versions = dict(numpy=np.__version__, scipy=__import__("scipy").__version__)
    if sys.argv[1:] == ["shapes"]:
        with open(path) as f:
            out = json.load(f)
    else:
        rng = np.random.default_rng(20240403)
        out = dict(scaling=scaling_golden(rng), loss_curve=curve_golden(rng),
                   threshold=threshold_golden(rng))
    out["shapes"] = shapes_golden(np.random.default_rng(20261201), out["threshold"])
    out["versions"] = versions
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(path, json.dumps({k: v.get("fit") for k, v in out.items() if k != "versions"}, indent=1))


if __name__ == "__main__":
    main()
