"""The floor for ``bench_command.py``: the GD sweep on ``linear-regression[n=200]`` written by
hand as one vectorized numpy loop over a (B, 2) array, keeping every trace in memory.

Usage: ``python benchmarks/numpy_sweep.py RATES SEEDS ITERS`` (learning rates log-spaced in
[1e-3, 0.1]). Same arithmetic as the engine's problem (f = f* + ‖R(θ − θ*)‖²/n, gradient
H(θ − θ*)), the same recorded quantities per iterate (x, f, ‖g‖, n_f, n_g, lr, time).
"""

import sys
import time

import numpy as np

n_lr, seeds, iters = (int(a) for a in sys.argv[1:4])
rng = np.random.default_rng(0)
x = rng.uniform(0.0, 2.0, 200)
A = np.column_stack([x, np.ones(200)])
y = 3.0 * x + 2.0 + rng.standard_normal(200)
theta = np.linalg.lstsq(A, y, rcond=None)[0]
f_star = np.mean((A @ theta - y) ** 2)
R = np.linalg.qr(A, mode="r")
H = 2.0 / 200 * (R.T @ R)
lr = np.repeat(np.geomspace(1e-3, 0.1, n_lr), seeds)[:, None]  # (B, 1)
X = np.tile(np.stack([np.random.default_rng(s).uniform(theta - 10, theta + 10)
                      for s in range(seeds)]), (n_lr, 1))  # (B, 2): one start per seed
B = X.shape[0]
xs, fs, gs, nfs, ngs, lrs, ts = [], [], [], [], [], [], []
t0 = time.perf_counter()
for t in range(iters + 1):
    D = X - theta
    f, g = f_star + np.sum((D @ R.T) ** 2, axis=1) / 200, D @ H
    xs.append(X), fs.append(f), gs.append(np.linalg.norm(g, axis=1))
    nfs.append(np.full(B, t + 1)), ngs.append(np.full(B, t + 1))
    ts.append(time.perf_counter() - t0)
    if t < iters:
        X = X - lr * g
        lrs.append(lr[:, 0])
trace = {k: np.stack(v) for k, v in
         dict(x=xs, f=fs, gnorm=gs, n_f=nfs, n_g=ngs, lr=lrs).items()}
print(B, "runs", float(np.median(trace["f"][-1])), f"{time.perf_counter() - t0:.3f}s")
