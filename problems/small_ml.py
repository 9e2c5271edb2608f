"""A small-ML tier: logistic regression, softmax regression on 8×8 digit images, and a
one-hidden-layer MLP, each with minibatch gradients and a held-out test loss.

The data are generated deterministically from ``data_seed`` (nothing is downloaded, so
nothing to license): a binary logistic model in ``p`` Gaussian features; "digits", 8×8
images of the ten digit glyphs below, each shifted by up to a pixel, with a random stroke
intensity and Gaussian pixel noise; and two interleaved half-moons. A hash of the data is
part of each run's identity (``content_hash``, filled in by the planner), so a change in
the generator can never be mistaken for the same problem.

Each loss is the mean cross-entropy on the training set plus ``l2/2·‖θ‖²`` over every
parameter (bias included, so the convex models have a unique minimizer). The trace's
``test_f`` is the mean cross-entropy on the test set, without the penalty. ``batch_size``
(default 32; ``none`` for full gradients) makes the gradient a minibatch one, drawn without
replacement from the run's own generator; the recorded ``f`` is always the full training
loss.

For the two convex models, x* and f* come from a high-accuracy solve (L-BFGS, then Newton
steps solved by conjugate gradients, to a gradient norm below 1e-10, so f* is within
‖g‖²/(2·l2) of the true minimum, 5e-19 at the default l2), cached in the process by the
data's hash; L and mu are the extreme Hessian eigenvalues at x* (Lanczos on Hessian-vector
products). The MLP has no known f*: targets there fall back to the relative convention of
problems without f*.
"""

from __future__ import annotations

from optbench import Problem, check, register_problem
from optbench.extras import installed, require

from ._common import SCALE_MAX, whole

_SOLVED: dict[tuple[str, int, float], tuple] = {}  # (data hash, K, l2) -> (x*, f*, L, mu)

# the ten digit glyphs, 8×8 ("#" = ink)
_GLYPHS = """
..####.. ...##... ..####.. ..####.. ....##.. .######. ..####.. .######. ..####.. ..####..
.##..##. ..###... .##..##. .##..##. ...###.. .##..... .##..... .....##. .##..##. .##..##.
.##..##. ...##... .....##. .....##. ..#.##.. .#####.. .##..... ....##.. .##..##. .##..##.
.##..##. ...##... ....##.. ...###.. .#..##.. .....##. .#####.. ....##.. ..####.. ..#####.
.##..##. ...##... ...##... .....##. .######. .....##. .##..##. ...##... .##..##. .....##.
.##..##. ...##... ..##.... .##..##. ....##.. .##..##. .##..##. ...##... .##..##. .....##.
..####.. .######. .######. ..####.. ....##.. ..####.. ..####.. ...##... ..####.. ..####..
........ ........ ........ ........ ........ ........ ........ ........ ........ ........
"""


def _glyphs():
    import numpy as np

    rows = [line.split() for line in _GLYPHS.strip().splitlines()]
    return np.array([[[c == "#" for c in rows[r][k]] for r in range(8)] for k in range(10)],
                    dtype=float)  # (10, 8, 8)


def _hash(*arrays) -> str:
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# scikit-learn's bundled datasets (shipped inside the package: nothing is downloaded)
DATASETS = {"breast-cancer": "load_breast_cancer", "digits": "load_digits", "wine": "load_wine"}


DATA = 1  # bump when the split or the standardization changes: older cached splits are not read


def load_dataset(dataset: str, test_size: float, data_seed: int, choices=tuple(DATASETS)):
    """``(X_train, y_train, X_test, y_test)`` of a bundled scikit-learn dataset: a split
    stratified by class and seeded by ``data_seed`` (``train_test_split``), then features
    standardized with the training part's mean and standard deviation (``StandardScaler``
    fitted on the training rows only, so nothing of the test set leaks into training).

    The four arrays are kept under :func:`cache_dir`, by dataset, split and scikit-learn
    version: importing scikit-learn costs more than a second in every process that builds
    the problem (the driver, each worker), reading the arrays a few milliseconds."""
    if dataset not in choices:
        raise ValueError(f"dataset must be one of {', '.join(['synthetic', *choices])}, "
                         f"got {dataset!r}")
    check("test_size", test_size, isinstance(test_size, float) and 0 < test_size < 1,
          "a fraction in (0, 1)")
    if not installed("sklearn"):
        require("sklearn", "data", f"dataset {dataset!r}")  # the one-line error
    from importlib.metadata import version

    path = cache_dir() / (f"data{DATA}-{dataset}-test{test_size!r}-seed{data_seed}"
                          f"-sklearn{version('scikit-learn')}.npz")
    names = ("X_train", "y_train", "X_test", "y_test")
    cached = _load_npz(path, names)
    if cached is not None:
        return cached
    require("sklearn", "data", f"dataset {dataset!r}")
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, DATASETS[dataset])(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=data_seed, stratify=y)
    scaler = StandardScaler().fit(X_train)
    out = scaler.transform(X_train), y_train, scaler.transform(X_test), y_test
    _save_npz(path, **dict(zip(names, out, strict=True)))
    return out


def _synthetic_only(factory, dataset: str, test_size: float, **given) -> None:
    """A generator parameter set with a real dataset (or ``test_size`` without one) is a
    one-line error: it would be ignored."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(factory).parameters.items()}
    if dataset == "synthetic":
        if test_size != defaults["test_size"]:
            raise ValueError("test_size splits a real dataset; the synthetic data have "
                             "n_train and n_test")
        return
    for name, value in given.items():
        if value != defaults[name]:
            raise ValueError(f"{name} applies to the synthetic data only, not to "
                             f"dataset={dataset} (its size and features are the dataset's)")


def _check_hash(given, actual: str) -> None:
    if given is not None and given != actual:
        raise ValueError(f"content_hash {given!r} does not match the data ({actual!r}): "
                         "this numpy generates, or this scikit-learn loads and splits, "
                         "different data; drop content_hash")


def _batch_size(batch_size, n):
    return None if batch_size is None else whole("batch_size", batch_size, 1, n)


def _draw(rng, n: int, k: int):
    """Minibatch indices ``(B, k)``, each run from its own generator, without replacement."""
    import numpy as np

    return np.stack([g.choice(n, size=k, replace=False) for g in rng.generators])


class _Softmax:
    """Multinomial logistic regression in θ = (W (p×K) row-major, b (K)), batched over rows
    of Θ; K = 2 with labels {0, 1} is binary logistic regression (over-parametrized by one
    logit, which the L2 penalty makes unique)."""

    def __init__(self, X, y, K: int, l2: float):
        import numpy as np

        self.X, self.y, self.K, self.l2 = X, y, K, l2
        self.p = X.shape[1]
        self.Y = np.eye(K)[y]  # one-hot (n, K)

    @property
    def dim(self) -> int:
        return (self.p + 1) * self.K

    def _split(self, T):
        p, K = self.p, self.K
        return T[:, : p * K].reshape(-1, p, K), T[:, p * K :]

    def logits(self, T, idx=None):
        W, b = self._split(T)
        X = self.X if idx is None else self.X[idx]  # (n, p), or (B, k, p) for minibatches
        return X @ W + b[:, None, :]  # (B, n, K), through BLAS

    def data_loss(self, T, X=None, y=None):
        """Mean cross-entropy (no penalty); on (X, y) if given."""
        import numpy as np
        from scipy.special import logsumexp

        W, b = self._split(T)
        X = self.X if X is None else X
        y = self.y if y is None else y
        Z = X @ W + b[:, None, :]
        return np.mean(logsumexp(Z, axis=2) - Z[:, np.arange(len(y)), y], axis=1)

    def accuracy(self, T, X, y):
        """The fraction of (X, y) whose label has the largest logit."""
        import numpy as np

        W, b = self._split(T)
        return np.mean(np.argmax(X @ W + b[:, None, :], axis=2) == y, axis=1)

    def value(self, T):
        import numpy as np

        return self.data_loss(T) + 0.5 * self.l2 * np.sum(T * T, axis=1)

    def value_and_grad(self, T, idx=None):
        import numpy as np
        from scipy.special import logsumexp, softmax

        Z = self.logits(T, idx)
        X = self.X if idx is None else self.X[idx]
        Y = self.Y if idx is None else self.Y[idx]
        n = Z.shape[1]
        f = np.mean(logsumexp(Z, axis=2) - np.sum(Z * Y, axis=2), axis=1)
        R = (softmax(Z, axis=2) - Y) / n  # (B, n, K)
        gW = np.swapaxes(X, -1, -2) @ R  # (B, p, K)
        g = np.concatenate([gW.reshape(len(T), -1), R.sum(axis=1)], axis=1)
        return f + 0.5 * self.l2 * np.sum(T * T, axis=1), g + self.l2 * T

    def hvp(self, theta, v):
        """Hessian-vector product at one point (for L and mu)."""
        import numpy as np
        from scipy.special import softmax

        P = softmax(self.logits(theta[None])[0], axis=1)  # (n, K)
        W, b = self._split(v[None])
        Zv = self.X @ W[0] + b[0]  # (n, K)
        Rv = P * (Zv - np.sum(P * Zv, axis=1, keepdims=True)) / len(self.y)
        return np.concatenate([(self.X.T @ Rv).ravel(), Rv.sum(axis=0)]) + self.l2 * v


SOLVER = 2  # bump when the reference solve changes: older cached solutions are not read


def cache_dir():
    """Where reference solutions and dataset splits are kept between processes: ``$OPTBENCH_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/optbench``, else ``~/.cache/optbench``."""
    import os
    from pathlib import Path

    if os.environ.get("OPTBENCH_CACHE_DIR"):
        return Path(os.environ["OPTBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "optbench"


def _cache_path(model: _Softmax, key: str):
    return cache_dir() / f"solve{SOLVER}-{key}-K{model.K}-l2_{model.l2!r}.npz"


def _cached(model: _Softmax, key: str, fg):
    """(x*, L) from the disk cache, if there and still a minimizer (gradient norm < 1e-10
    at x*, checked, so a stale or damaged file is solved again, never trusted)."""
    import numpy as np

    found = _load_npz(_cache_path(model, key), ("theta", "L"))
    if found is None:
        return None
    theta, L = np.asarray(found[0], dtype=float), float(found[1])
    if theta.shape != (model.dim,) or not (np.isfinite(L) and L > 0):
        return None
    if not float(np.linalg.norm(fg(theta)[1])) < 1e-10:
        return None
    return theta, L


def _store(model: _Softmax, key: str, theta, L: float) -> None:
    import numpy as np

    _save_npz(_cache_path(model, key), theta=theta, L=np.float64(L))


def _load_npz(path, names):
    """The arrays ``names`` of an ``.npz`` file, or None where it is missing or unreadable."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return tuple(np.asarray(z[n]) for n in names)
    except (OSError, KeyError, ValueError):
        return None


def _save_npz(path, **arrays) -> None:
    """Write ``arrays`` to ``path`` atomically; a read-only cache folder is left alone (the
    work is simply redone next time)."""
    import os
    import tempfile

    import numpy as np

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
    except OSError:
        pass


def _solve(model: _Softmax, key: str):
    """x*, f*, L, mu of a convex model, cached by data hash and l2 (in the process, and on
    disk under :func:`cache_dir`).

    mu is l2 exactly: adding one vector to every class's weights (and one number to every
    bias) shifts all logits alike and leaves the cross-entropy unchanged, so the data term's
    Hessian, positive semi-definite, is singular, and the penalty's l2·I is the least
    eigenvalue of the whole Hessian."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.sparse.linalg import LinearOperator, cg, eigsh

    cache = (key, model.K, model.l2)
    if cache in _SOLVED:
        return _SOLVED[cache]
    d = model.dim

    def fg(t):
        f, g = model.value_and_grad(t[None])
        return float(f[0]), g[0]

    def hessian(at):
        return LinearOperator((d, d), matvec=lambda v: model.hvp(at, np.ravel(v)), dtype=float)

    found = _cached(model, key, fg)
    if found is not None:
        theta, L = found
    else:
        res = minimize(fg, np.zeros(d), jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 20000, "maxcor": 30})
        theta = res.x
        for _ in range(6):  # Newton polish (conjugate gradients on H·s = g): quadratic
            g = fg(theta)[1]
            if np.linalg.norm(g) < 1e-13:
                break
            theta = theta - cg(hessian(theta), g, rtol=1e-13, maxiter=10 * d)[0]
        gnorm = float(np.linalg.norm(fg(theta)[1]))
        if not gnorm < 1e-10:
            raise RuntimeError(f"the reference solve stopped at gradient norm {gnorm:.2e}")
        # a fixed start vector: eigsh's default is random, and L's last digits (which a
        # spec such as lr=1/L carries into the run identity) must not vary between processes
        L = float(eigsh(hessian(theta), k=1, which="LA", return_eigenvectors=False,
                        tol=1e-10, v0=np.ones(d))[0])
        _store(model, key, theta, L)
    out = (theta, fg(theta)[0], L, model.l2)
    _SOLVED[cache] = out
    return out


def _convex_problem(model: _Softmax, X_test, y_test, key: str, batch_size,
                    description: str, tags) -> Problem:
    import numpy as np

    theta, f_star, L, mu = _solve(model, key)
    n = len(model.y)
    k = _batch_size(batch_size, n)
    radius = max(5.0, 2.0 * float(np.max(np.abs(theta))))

    def stochastic_grad(T, rng):
        return model.value_and_grad(T, _draw(rng, n, k))[1]

    return Problem(
        dim=model.dim,
        f=model.value,
        value_and_grad=model.value_and_grad,
        grad=lambda T: model.value_and_grad(T)[1],
        stochastic_grad=stochastic_grad if k is not None else None,
        test_f=lambda T: model.data_loss(T, X_test, y_test),
        test_acc=lambda T: model.accuracy(T, X_test, y_test),
        bounds=(theta - radius, theta + radius),
        start=lambda rng: rng.normal(0.0, 0.1, model.dim),
        x_star=[theta], f_star=f_star, L=L, mu=mu, L_global=False,
        examples_per_grad=k if k is not None else n,
        tags=[*tags, *(["stochastic"] if k is not None else [])],
        description=description,
        resolved={"content_hash": key},
    )


_CONVEX = ("convex", "smooth", "unimodal", "ml")


@register_problem("logistic-regression", tags=_CONVEX)
def logistic_regression(p: int = 10, n_train: int = 400, n_test: int = 400,
                        separation: float = 2.0, l2: float = 1e-2, batch_size: int | None = 32,
                        data_seed: int = 0, content_hash: str | None = None,
                        dataset: str = "synthetic", test_size: float = 0.25) -> Problem:
    """Binary logistic regression, L2-regularised, on p Gaussian features: labels drawn from
    a logistic model whose weights have norm ``separation``; θ = (w, b) as two logits.
    ``dataset=breast-cancer``: scikit-learn's Wisconsin breast-cancer data instead (569
    examples, 30 features), split ``test_size`` held out, seeded by ``data_seed``."""
    import numpy as np

    check("l2", l2, 0 < l2 <= SCALE_MAX,
          "in (0, 1e100] (the minimizer must be unique; larger values overflow the loss)")
    seed = whole("data_seed", data_seed, 0)
    _synthetic_only(logistic_regression, dataset, test_size, p=p, n_train=n_train,
                    n_test=n_test, separation=separation)
    if dataset != "synthetic":
        X_train, y_train, X_test, y_test = load_dataset(dataset, test_size, seed,
                                                        choices=("breast-cancer",))
        key = _hash(X_train, y_train, X_test, y_test)
        what = (f"binary logistic regression on {dataset} ({X_train.shape[1]} standardized "
                f"features), {len(y_train)} training and {len(y_test)} test examples, "
                f"l2={l2:g}")
    else:
        p = whole("p", p, 1)
        n_train, n_test = whole("n_train", n_train, 2), whole("n_test", n_test, 1)
        check("separation", separation, separation >= 0, ">= 0")
        rng = np.random.default_rng(seed)
        w = rng.standard_normal(p)
        w *= separation / np.linalg.norm(w)
        X = rng.standard_normal((n_train + n_test, p))
        y = (rng.uniform(size=n_train + n_test) < 1 / (1 + np.exp(-X @ w))).astype(np.int64)
        key = _hash(X, y)
        X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
        what = (f"binary logistic regression, {p} features, {n_train} training and {n_test} "
                f"test examples, l2={l2:g}")
    _check_hash(content_hash, key)
    model = _Softmax(X_train, y_train, 2, float(l2))
    return _convex_problem(model, X_test, y_test, key, batch_size, what, _CONVEX)


def digits(n: int, rng):
    """``n`` noisy 8×8 digit images (flattened, pixel values in about [-0.3, 1.3]) and labels."""
    import numpy as np

    glyphs = _glyphs()
    labels = rng.integers(0, 10, n)
    shifts = rng.integers(-1, 2, (n, 2))
    ink = rng.uniform(0.6, 1.0, n)
    images = np.stack([np.roll(glyphs[c], tuple(s), axis=(0, 1)) for c, s in zip(labels, shifts,
                                                                                 strict=True)])
    images = images * ink[:, None, None] + 0.3 * rng.standard_normal(images.shape)
    return images.reshape(n, 64), labels


@register_problem("softmax-regression", tags=_CONVEX)
def softmax_regression(n_train: int = 500, n_test: int = 500, l2: float = 1e-2,
                       batch_size: int | None = 32, data_seed: int = 0,
                       content_hash: str | None = None, dataset: str = "synthetic",
                       test_size: float = 0.25) -> Problem:
    """Ten-class softmax regression on noisy, shifted 8×8 digit images (64 pixels + bias:
    650 parameters), L2-regularised. ``dataset=digits`` (scikit-learn's 1797 handwritten
    8×8 digits), ``wine`` (178 wines, 13 features, 3 classes) or ``breast-cancer``: a
    real dataset instead, split ``test_size`` held out, seeded by ``data_seed``."""
    import numpy as np

    check("l2", l2, 0 < l2 <= SCALE_MAX,
          "in (0, 1e100] (the minimizer must be unique; larger values overflow the loss)")
    seed = whole("data_seed", data_seed, 0)
    _synthetic_only(softmax_regression, dataset, test_size, n_train=n_train, n_test=n_test)
    if dataset != "synthetic":
        X_train, y_train, X_test, y_test = load_dataset(dataset, test_size, seed)
        key = _hash(X_train, y_train, X_test, y_test)
        K = int(np.max(y_train)) + 1
        what = (f"{K}-class softmax regression on {dataset} ({X_train.shape[1]} standardized "
                f"features), {len(y_train)} training and {len(y_test)} test examples, "
                f"l2={l2:g}")
    else:
        n_train, n_test = whole("n_train", n_train, 2), whole("n_test", n_test, 1)
        X, y = digits(n_train + n_test, np.random.default_rng(seed))
        key = _hash(X, y)
        X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
        K = 10
        what = (f"softmax regression on 8×8 digits, {n_train} training and {n_test} test "
                f"images, l2={l2:g}")
    _check_hash(content_hash, key)
    model = _Softmax(X_train, y_train, K, float(l2))
    return _convex_problem(model, X_test, y_test, key, batch_size, what, _CONVEX)


class _MLP:
    """One hidden tanh layer, softmax output: θ = (W1 (p×h), b1 (h), W2 (h×K), b2 (K))."""

    def __init__(self, X, y, hidden: int, K: int, l2: float):
        import numpy as np

        self.X, self.y, self.h, self.K, self.l2 = X, y, hidden, K, l2
        self.p = X.shape[1]
        self.Y = np.eye(K)[y]
        p, h = self.p, hidden
        self.cuts = np.cumsum([p * h, h, h * K])
        self.dim = int(self.cuts[-1] + K)

    def _split(self, T):
        import numpy as np

        W1, b1, W2, b2 = np.split(T, self.cuts, axis=1)
        return (W1.reshape(-1, self.p, self.h), b1, W2.reshape(-1, self.h, self.K), b2)

    def _forward(self, T, X):
        import numpy as np

        W1, b1, W2, b2 = self._split(T)
        A = np.tanh(X @ W1 + b1[:, None, :])  # (B, n, h)
        return A, A @ W2 + b2[:, None, :]

    def data_loss(self, T, X, y):
        import numpy as np
        from scipy.special import logsumexp

        _, Z = self._forward(T, X)
        return np.mean(logsumexp(Z, axis=2) - Z[:, np.arange(len(y)), y], axis=1)

    def accuracy(self, T, X, y):
        """The fraction of (X, y) whose label has the largest output."""
        import numpy as np

        return np.mean(np.argmax(self._forward(T, X)[1], axis=2) == y, axis=1)

    def value(self, T):
        import numpy as np

        return self.data_loss(T, self.X, self.y) + 0.5 * self.l2 * np.sum(T * T, axis=1)

    def value_and_grad(self, T, idx=None):
        import numpy as np
        from scipy.special import logsumexp, softmax

        X = self.X if idx is None else self.X[idx]
        Y = self.Y if idx is None else self.Y[idx]
        A, Z = self._forward(T, X)
        n = Z.shape[1]
        f = np.mean(logsumexp(Z, axis=2) - np.sum(Z * Y, axis=2), axis=1)
        R = (softmax(Z, axis=2) - Y) / n  # dL/dZ (B, n, K)
        _, _, W2, _ = self._split(T)
        gW2 = np.swapaxes(A, 1, 2) @ R
        gb2 = R.sum(axis=1)
        D = (R @ np.swapaxes(W2, 1, 2)) * (1 - A * A)  # back through tanh
        gW1 = np.swapaxes(X, -1, -2) @ D
        gb1 = D.sum(axis=1)
        B = len(T)
        g = np.concatenate([gW1.reshape(B, -1), gb1, gW2.reshape(B, -1), gb2], axis=1)
        return f + 0.5 * self.l2 * np.sum(T * T, axis=1), g + self.l2 * T


def moons(n: int, noise: float, rng):
    """Two interleaved half-circles in 2-D with Gaussian noise; labels 0 and 1."""
    import numpy as np

    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0.0, np.pi, n)
    X = np.where(labels[:, None] == 0,
                 np.column_stack([np.cos(angle), np.sin(angle)]),
                 np.column_stack([1 - np.cos(angle), 0.5 - np.sin(angle)]))
    return X + noise * rng.standard_normal((n, 2)), labels


@register_problem("mlp", tags=("non-convex", "smooth", "ml"))
def mlp(hidden: int = 16, n_train: int = 200, n_test: int = 200, noise: float = 0.2,
        l2: float = 1e-4, batch_size: int | None = 32, data_seed: int = 0,
        content_hash: str | None = None, dataset: str = "synthetic",
        test_size: float = 0.25) -> Problem:
    """A one-hidden-layer tanh network classifying two noisy half-moons (softmax output),
    L2-regularised; no f* is known. Starts from N(0, 1/fan_in) weights and zero biases.
    ``dataset=digits``, ``wine`` or ``breast-cancer``: a real scikit-learn dataset instead,
    split ``test_size`` held out, seeded by ``data_seed``."""
    import numpy as np

    hidden = whole("hidden", hidden, 1)
    check("l2", l2, 0 <= l2 <= SCALE_MAX, "in [0, 1e100] (larger values overflow the loss)")
    seed = whole("data_seed", data_seed, 0)
    _synthetic_only(mlp, dataset, test_size, n_train=n_train, n_test=n_test, noise=noise)
    if dataset != "synthetic":
        X_train, y_train, X_test, y_test = load_dataset(dataset, test_size, seed)
        key = _hash(X_train, y_train, X_test, y_test)
        on = f"{dataset} ({X_train.shape[1]} standardized features)"
    else:
        n_train, n_test = whole("n_train", n_train, 2), whole("n_test", n_test, 1)
        check("noise", noise, noise >= 0, ">= 0")
        X, y = moons(n_train + n_test, noise, np.random.default_rng(seed))
        key = _hash(X, y)
        X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
        on = "two moons"
    _check_hash(content_hash, key)
    n, p, K = len(y_train), X_train.shape[1], max(2, int(np.max(y_train)) + 1)
    model = _MLP(X_train, y_train, hidden, K, float(l2))
    k = _batch_size(batch_size, n)
    fan_in = np.concatenate([np.full(p * hidden, float(p)), np.zeros(hidden),
                             np.full(hidden * K, float(hidden)), np.zeros(K)])

    def start(rng):
        scale = np.where(fan_in > 0, 1 / np.sqrt(np.maximum(fan_in, 1)), 0.0)
        return scale * rng.standard_normal(model.dim)

    def stochastic_grad(T, rng):
        return model.value_and_grad(T, _draw(rng, n, k))[1]

    return Problem(
        dim=model.dim,
        f=model.value,
        value_and_grad=model.value_and_grad,
        grad=lambda T: model.value_and_grad(T)[1],
        stochastic_grad=stochastic_grad if k is not None else None,
        test_f=lambda T: model.data_loss(T, X_test, y_test),
        test_acc=lambda T: model.accuracy(T, X_test, y_test),
        bounds=(np.full(model.dim, -10.0), np.full(model.dim, 10.0)),
        start=start,
        examples_per_grad=k if k is not None else n,
        tags=["non-convex", "smooth", "ml", *(["stochastic"] if k is not None else [])],
        description=(f"one-hidden-layer MLP ({hidden} tanh units) on {on}, {n} "
                     f"training and {len(y_test)} test points, l2={l2:g}"),
        resolved={"content_hash": key},
    )
