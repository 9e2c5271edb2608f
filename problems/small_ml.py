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

from ._common import SCALE_MAX, whole

_SOLVED: dict[tuple[str, float], tuple] = {}  # (data hash, l2) -> (x*, f*, L, mu)

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


def _check_hash(given, actual: str) -> None:
    if given is not None and given != actual:
        raise ValueError(f"content_hash {given!r} does not match the generated data "
                         f"({actual!r}): this numpy generates different data; drop content_hash")


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


def _solve(model: _Softmax, key: str):
    """x*, f*, L, mu of a convex model, cached by data hash and l2."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.sparse.linalg import LinearOperator, cg, eigsh

    cache = (key, model.l2)
    if cache in _SOLVED:
        return _SOLVED[cache]
    d = model.dim

    def fg(t):
        f, g = model.value_and_grad(t[None])
        return float(f[0]), g[0]

    res = minimize(fg, np.zeros(d), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 20000, "maxcor": 30})
    theta = res.x

    def hessian(at):
        return LinearOperator((d, d), matvec=lambda v: model.hvp(at, np.ravel(v)), dtype=float)

    for _ in range(6):  # Newton polish (conjugate gradients on H·s = g): quadratic convergence
        g = fg(theta)[1]
        if np.linalg.norm(g) < 1e-13:
            break
        theta = theta - cg(hessian(theta), g, rtol=1e-13, maxiter=10 * d)[0]
    gnorm = float(np.linalg.norm(fg(theta)[1]))
    if not gnorm < 1e-10:
        raise RuntimeError(f"the reference solve stopped at gradient norm {gnorm:.2e}")
    op = hessian(theta)
    L = float(eigsh(op, k=1, which="LA", return_eigenvectors=False, tol=1e-10)[0])
    mu = float(eigsh(op, k=1, which="SA", return_eigenvectors=False, tol=1e-10)[0])
    out = (theta, fg(theta)[0], L, mu)
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
                        data_seed: int = 0, content_hash: str | None = None) -> Problem:
    """Binary logistic regression, L2-regularised, on p Gaussian features: labels drawn from
    a logistic model whose weights have norm ``separation``; θ = (w, b) as two logits."""
    import numpy as np

    p = whole("p", p, 1)
    n_train, n_test = whole("n_train", n_train, 2), whole("n_test", n_test, 1)
    check("separation", separation, separation >= 0, ">= 0")
    check("l2", l2, 0 < l2 <= SCALE_MAX,
          "in (0, 1e100] (the minimizer must be unique; larger values overflow the loss)")
    rng = np.random.default_rng(whole("data_seed", data_seed, 0))
    w = rng.standard_normal(p)
    w *= separation / np.linalg.norm(w)
    X = rng.standard_normal((n_train + n_test, p))
    y = (rng.uniform(size=n_train + n_test) < 1 / (1 + np.exp(-X @ w))).astype(np.int64)
    key = _hash(X, y)
    _check_hash(content_hash, key)
    model = _Softmax(X[:n_train], y[:n_train], 2, float(l2))
    what = (f"binary logistic regression, {p} features, {n_train} training and {n_test} "
            f"test examples, l2={l2:g}")
    return _convex_problem(model, X[n_train:], y[n_train:], key, batch_size, what, _CONVEX)


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
                       content_hash: str | None = None) -> Problem:
    """Ten-class softmax regression on noisy, shifted 8×8 digit images (64 pixels + bias:
    650 parameters), L2-regularised."""
    import numpy as np

    n_train, n_test = whole("n_train", n_train, 2), whole("n_test", n_test, 1)
    check("l2", l2, 0 < l2 <= SCALE_MAX,
          "in (0, 1e100] (the minimizer must be unique; larger values overflow the loss)")
    X, y = digits(n_train + n_test, np.random.default_rng(whole("data_seed", data_seed, 0)))
    key = _hash(X, y)
    _check_hash(content_hash, key)
    model = _Softmax(X[:n_train], y[:n_train], 10, float(l2))
    what = (f"softmax regression on 8×8 digits, {n_train} training and {n_test} test "
            f"images, l2={l2:g}")
    return _convex_problem(model, X[n_train:], y[n_train:], key, batch_size, what, _CONVEX)


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
        content_hash: str | None = None) -> Problem:
    """A one-hidden-layer tanh network classifying two noisy half-moons (softmax output),
    L2-regularised; no f* is known. Starts from N(0, 1/fan_in) weights and zero biases."""
    import numpy as np

    hidden = whole("hidden", hidden, 1)
    n_train, n_test = whole("n_train", n_train, 2), whole("n_test", n_test, 1)
    check("noise", noise, noise >= 0, ">= 0")
    check("l2", l2, 0 <= l2 <= SCALE_MAX, "in [0, 1e100] (larger values overflow the loss)")
    X, y = moons(n_train + n_test, noise, np.random.default_rng(whole("data_seed", data_seed, 0)))
    key = _hash(X, y)
    _check_hash(content_hash, key)
    model = _MLP(X[:n_train], y[:n_train], hidden, 2, float(l2))
    k = _batch_size(batch_size, n_train)
    fan_in = np.concatenate([np.full(2 * hidden, 2.0), np.zeros(hidden),
                             np.full(hidden * 2, float(hidden)), np.zeros(2)])

    def start(rng):
        scale = np.where(fan_in > 0, 1 / np.sqrt(np.maximum(fan_in, 1)), 0.0)
        return scale * rng.standard_normal(model.dim)

    def stochastic_grad(T, rng):
        return model.value_and_grad(T, _draw(rng, n_train, k))[1]

    return Problem(
        dim=model.dim,
        f=model.value,
        value_and_grad=model.value_and_grad,
        grad=lambda T: model.value_and_grad(T)[1],
        stochastic_grad=stochastic_grad if k is not None else None,
        test_f=lambda T: model.data_loss(T, X[n_train:], y[n_train:]),
        bounds=(np.full(model.dim, -10.0), np.full(model.dim, 10.0)),
        start=start,
        examples_per_grad=k if k is not None else n_train,
        tags=["non-convex", "smooth", "ml", *(["stochastic"] if k is not None else [])],
        description=(f"one-hidden-layer MLP ({hidden} tanh units) on two moons, {n_train} "
                     f"training and {n_test} test points, l2={l2:g}"),
        resolved={"content_hash": key},
    )
