"""The small-ML tier's real datasets (scikit-learn's bundled breast-cancer, digits, wine):
the split and standardization against scikit-learn called directly, f* against
scikit-learn's own solver at matched regularization, the data in the run identity, the
held-out accuracy recorded per iterate, the cached reference solve, and the missing extra."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import logsumexp

from optbench import plan as plan_mod
from optbench.errors import PluginError
from optbench.plan import build_problem, make_plan, resolve_problem
from optbench.spec import parse
from tests.conftest import Lazy, needs

# scikit-learn is imported by the first test that uses it, not by each worker's collection
pytestmark = needs("sklearn")
datasets = Lazy("sklearn.datasets")
linear_model = Lazy("sklearn.linear_model")
model_selection = Lazy("sklearn.model_selection")
preprocessing = Lazy("sklearn.preprocessing")

LOADERS = {"breast-cancer": "load_breast_cancer", "digits": "load_digits", "wine": "load_wine"}


@pytest.fixture(scope="session")
def _solve_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("solve-cache")


@pytest.fixture(autouse=True)
def _cache_in_tmp(_solve_cache, monkeypatch):
    # reference solves go to a folder of this session (each solved once per test process)
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(_solve_cache))


def _problem(spec):
    return build_problem(resolve_problem(parse(spec)))


def _direct(dataset, test_size=0.25, seed=0):
    """The split and standardization done here with scikit-learn, independently."""
    X, y = getattr(datasets, LOADERS[dataset])(return_X_y=True)
    Xa, Xb, ya, yb = model_selection.train_test_split(X, y, test_size=test_size,
                                                      random_state=seed, stratify=y)
    s = preprocessing.StandardScaler().fit(Xa)
    return s.transform(Xa), ya, s.transform(Xb), yb


def _softmax_terms(T, X, y, K, p):
    """Mean cross-entropy and accuracy of θ = (W (p×K) row-major, b (K)) on (X, y)."""
    W, b = T[: p * K].reshape(p, K), T[p * K :]
    Z = X @ W + b
    return np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y]), np.mean(Z.argmax(1) == y)


@pytest.mark.parametrize("spec,dataset,K", [
    ("logistic-regression[dataset=breast-cancer]", "breast-cancer", 2),
    ("softmax-regression[dataset=wine,test_size=0.4,data_seed=3,l2=0.1]", "wine", 3),
    ("softmax-regression[dataset=breast-cancer,data_seed=1]", "breast-cancer", 2),
])
def test_loss_test_loss_and_accuracy_are_those_of_the_seeded_standardized_split(spec, dataset,
                                                                                 K):
    params = resolve_problem(parse(spec)).params
    Xa, ya, Xb, yb = _direct(dataset, params["test_size"], params["data_seed"])
    assert np.allclose(Xa.mean(0), 0) and not np.allclose(Xb.mean(0), 0)  # fitted on train
    p = _problem(spec)
    d = Xa.shape[1]
    assert p.dim == (d + 1) * K and p.examples_per_grad == 32 and p.stochastic
    T = np.random.default_rng(0).normal(0, 0.3, (3, p.dim))
    for i, t in enumerate(T):
        train, _ = _softmax_terms(t, Xa, ya, K, d)
        test, acc = _softmax_terms(t, Xb, yb, K, d)
        assert p.f(T)[i] == pytest.approx(train + 0.5 * params["l2"] * t @ t, rel=1e-12)
        assert p.test_f(T)[i] == pytest.approx(test, rel=1e-12)
        assert p.test_acc(T)[i] == acc


@pytest.mark.parametrize("dataset,p,K", [("wine", 13, 3), ("digits", 64, 10)])
def test_the_mlp_on_a_real_dataset_has_its_shape_and_held_out_quantities(dataset, p, K):
    Xa, ya, Xb, yb = _direct(dataset)
    h = 5
    prob = _problem(f"mlp[dataset={dataset},hidden={h}]")
    assert prob.dim == p * h + h + h * K + K and prob.f_star is None
    T = np.random.default_rng(1).normal(0, 0.5, (2, prob.dim))
    W1, b1 = T[0, : p * h].reshape(p, h), T[0, p * h : p * h + h]
    W2, b2 = T[0, p * h + h : -K].reshape(h, K), T[0, -K:]
    Z = np.tanh(Xb @ W1 + b1) @ W2 + b2
    p = prob
    assert p.test_f(T)[0] == pytest.approx(
        np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(yb)), yb]), rel=1e-12)
    assert p.test_acc(T)[0] == np.mean(Z.argmax(1) == yb)
    f, g = p.value_and_grad(T)
    v = np.random.default_rng(2).standard_normal(p.dim)
    fd = (p.f(T + 1e-6 * v) - p.f(T - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(g @ v, fd, rtol=1e-6)
    Z = np.tanh(Xa @ W1 + b1) @ W2 + b2
    train = np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(ya)), ya])
    assert f[0] == pytest.approx(train + 0.5e-4 * T[0] @ T[0], rel=1e-12)


def _sklearn_f_star(X, y, K, l2):
    """f* of our objective from scikit-learn's solver: the bias is a column of ones (so it is
    penalized as ours is), and C matched to l2. Binary: our two logits split the gap w
    evenly at the optimum, so the penalty is l2/4·‖w‖²."""
    n = len(y)
    Xt = np.column_stack([X, np.ones(n)])
    C = 2 / (l2 * n) if K == 2 else 1 / (l2 * n)
    clf = linear_model.LogisticRegression(C=C, fit_intercept=False, tol=1e-14, max_iter=100000,
                             solver="newton-cg").fit(Xt, y)
    W = clf.coef_  # (1, p+1) binary, (K, p+1) multinomial
    Z = Xt @ W.T
    if K == 2:
        loss = np.mean(np.logaddexp(0, Z[:, 0]) - y * Z[:, 0])
        return loss + l2 / 4 * np.sum(W**2)
    return np.mean(logsumexp(Z, axis=1) - Z[np.arange(n), y]) + l2 / 2 * np.sum(W**2)


@pytest.mark.parametrize("spec,dataset,K,l2", [
    ("logistic-regression[dataset=breast-cancer]", "breast-cancer", 2, 1e-2),
    ("softmax-regression[dataset=wine]", "wine", 3, 1e-2),
    ("softmax-regression[dataset=breast-cancer,l2=0.05]", "breast-cancer", 2, 5e-2),
])
def test_f_star_agrees_with_scikit_learns_solver(spec, dataset, K, l2):
    Xa, ya, _, _ = _direct(dataset)
    p = _problem(spec)
    ref = _sklearn_f_star(Xa, ya, K, l2)
    assert p.f_star == pytest.approx(ref, rel=1e-8)
    assert p.f_star <= ref + 1e-15  # ours is the lower: it is solved to a tighter gradient


def test_curvature_constants_are_the_hessian_extremes_and_mu_is_l2():
    p = _problem("softmax-regression[dataset=wine,l2=0.05]")
    x = p.x_star[0]
    h = 1e-6
    H = np.stack([(p.grad((x + h * e)[None])[0] - p.grad((x - h * e)[None])[0]) / (2 * h)
                  for e in np.eye(p.dim)])
    eig = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert p.L == pytest.approx(eig[-1], rel=1e-6)
    assert p.mu == 0.05 and eig[0] == pytest.approx(0.05, rel=1e-6)


def test_the_data_are_part_of_the_run_identity(monkeypatch, tmp_path):
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path / "real"))  # splits made, not read
    def ids(spec):
        plan = make_plan([spec], ["gd[lr=0.1]"], seeds=1, budget=5, tol=0.0)
        return plan.runs[0].problem.params["content_hash"], plan.runs[0].run_id

    a = ids("logistic-regression[dataset=breast-cancer]")
    assert a == ids("logistic-regression[dataset=breast-cancer]")  # deterministic
    assert a[0] != ids("logistic-regression[dataset=breast-cancer,data_seed=1]")[0]
    # the same spec on changed data (one value of the dataset altered) is another run
    real = datasets.load_breast_cancer

    def altered(return_X_y=True):
        X, y = real(return_X_y=True)
        X = X.copy()
        X[7, 3] += 1.0
        return X, y

    monkeypatch.setattr("sklearn.datasets.load_breast_cancer", altered)  # the module itself
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path / "altered"))
    monkeypatch.setattr(plan_mod, "_PROBLEM_CACHE", {})
    b = ids("logistic-regression[dataset=breast-cancer]")
    assert b[0] != a[0] and b[1] != a[1]


def test_the_reference_solve_is_cached_on_disk_and_checked(tmp_path, monkeypatch):
    import scipy.optimize
    from optbench.problems import small_ml

    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = resolve_problem(parse("softmax-regression[dataset=wine,l2=0.03]"))
    monkeypatch.setattr(small_ml, "_SOLVED", {})
    first = build_problem(spec)
    files = list((tmp_path / "cache").glob("solve*.npz"))
    assert len(files) == 1

    def no_solve(*a, **k):
        raise AssertionError("solved again")

    monkeypatch.setattr(small_ml, "_SOLVED", {})
    monkeypatch.setattr(plan_mod, "_PROBLEM_CACHE", {})
    monkeypatch.setattr(scipy.optimize, "minimize", no_solve)
    again = build_problem(spec)  # read from the disk cache, not solved
    assert again.f_star == first.f_star and again.L == first.L
    np.testing.assert_array_equal(again.x_star, first.x_star)
    # a cached x* that is not a minimizer is never trusted: the problem is solved again
    with np.load(files[0]) as z:
        theta, L = z["theta"], z["L"]
    np.savez(files[0], theta=theta + 1e-3, L=L)
    monkeypatch.setattr(small_ml, "_SOLVED", {})
    monkeypatch.setattr(plan_mod, "_PROBLEM_CACHE", {})
    with pytest.raises(PluginError, match="solved again"):
        build_problem(spec)


SPLIT_IN_A_NEW_PROCESS = """
import sys, numpy as np
from problems.small_ml import load_dataset
parts = load_dataset("wine", 0.25, 3)
np.savez(sys.argv[1], *parts)
print(sorted(m for m in sys.modules if m.startswith("sklearn")))
"""


def test_a_split_is_kept_on_disk_and_read_without_importing_scikit_learn(tmp_path):
    env = dict(os.environ, OPTBENCH_CACHE_DIR=str(tmp_path / "cache"))
    from tests.conftest import ROOT

    def split(k):
        r = subprocess.run([sys.executable, "-c", SPLIT_IN_A_NEW_PROCESS, str(tmp_path / f"{k}")],
                           capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        with np.load(tmp_path / f"{k}.npz") as z:
            return [z[f"arr_{i}"] for i in range(4)], eval(r.stdout)

    direct = _direct("wine", seed=3)
    first, imported = split(1)  # made with scikit-learn, and kept
    assert "sklearn.model_selection" in imported
    second, imported = split(2)  # read back: scikit-learn is not even imported
    assert imported == []
    for a, b, c in zip(first, second, direct, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)
    # a damaged file is made again, never half read
    (cached,) = (tmp_path / "cache").glob("data*-wine-*.npz")
    cached.write_bytes(b"not an archive")
    third, imported = split(3)
    assert "sklearn.model_selection" in imported
    for a, c in zip(third, direct, strict=True):
        np.testing.assert_array_equal(a, c)


def test_held_out_accuracy_is_recorded_per_iterate_on_breast_cancer():
    from optbench.runner import run_batch

    plan = make_plan(["logistic-regression[dataset=breast-cancer]"], ["gd[lr=1/L]"], seeds=2,
                     budget=40, tol=0.0)
    n_test = len(_direct("breast-cancer")[3])
    for res in [r for b in plan.batches for r in run_batch(b)]:
        acc = res.trace["test_acc"]
        assert len(acc) == len(res.trace["f"]) == len(res.trace["test_f"]) == 41
        np.testing.assert_allclose(acc * n_test, np.round(acc * n_test), atol=1e-9)
        assert acc[-1] > 0.9  # a standardized model classifies well soon


def test_the_runner_records_a_plugin_problems_test_accuracy_at_every_iterate(tmp_path):
    from optbench import registry
    from optbench.runner import run_batch

    path = tmp_path / "acc_plugin.py"
    path.write_text(
        "from optbench import Problem, register_problem\n"
        "@register_problem('bowl-with-accuracy')\n"
        "def bowl():\n"
        "    return Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 2 * X,\n"
        "                   bounds=([-2], [2]), test_acc=lambda X: 1 / (1 + X[:, 0] ** 2))\n")
    registry.load_plugin(str(path))
    plan = make_plan(["bowl-with-accuracy"], ["gd[lr=0.1]"], seeds=2, budget=10, tol=0.0)
    for res in [r for b in plan.batches for r in run_batch(b)]:
        x = res.trace["x"][:, 0]
        np.testing.assert_allclose(res.trace["test_acc"], 1 / (1 + x**2), rtol=1e-15)
        assert "test_f" not in res.trace and res.trace["n_f"].max() == 0


@pytest.mark.parametrize("spec,message", [
    ("logistic-regression[dataset=digits]", "dataset must be one of synthetic, breast-cancer"),
    ("mlp[dataset=iris]", "dataset must be one of synthetic, breast-cancer, digits, wine"),
    ("logistic-regression[dataset=breast-cancer,p=5]", "p applies to the synthetic data only"),
    ("softmax-regression[test_size=0.3]", "test_size splits a real dataset"),
    ("mlp[dataset=wine,test_size=1.5]", "test_size must be a fraction in (0, 1)"),
])
def test_bad_dataset_parameters_are_one_line_errors(cli, tmp_path, spec, message):
    proc = cli("run", "-p", spec, "-o", "gd", "--budget", "5", "--out", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _without_sklearn(tmp_path):
    """An environment where ``import sklearn`` fails, as without the data extra."""
    site = tmp_path / "nosklearn"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['sklearn'] = None\n")
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, PYTHONWARNINGS="ignore")


def test_without_scikit_learn_a_dataset_is_one_line_naming_the_extra(tmp_path):
    env = _without_sklearn(tmp_path)
    check = subprocess.run([sys.executable, "-c", "import sklearn"], env=env,
                           capture_output=True, text=True)
    assert check.returncode != 0  # the trick works: scikit-learn is unimportable there
    proc = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "run", "-p",
         "logistic-regression[dataset=breast-cancer]", "-o", "gd", "--budget", "5",
         "--out", str(tmp_path / "o")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "pip install 'optbench[data]'" in proc.stderr


def test_the_ml_suite_says_which_problems_it_runs(tmp_path):
    from optbench import suite

    assert suite.ml_suite()["problems"] == suite.REAL_ML_PROBLEMS
    assert "real datasets" in suite.ml_problems_note()
    for spec in suite.REAL_ML_PROBLEMS:  # each one a real dataset
        assert resolve_problem(parse(spec)).params["dataset"] != "synthetic"
    env = _without_sklearn(tmp_path)
    inner = subprocess.run(
        [sys.executable, "-c",
         "from optbench.suite import ml_suite; print(ml_suite()['problems'])"],
        env=env, capture_output=True, text=True, timeout=60)
    assert inner.stdout.strip() == str(suite.SYNTHETIC_ML_PROBLEMS)
    # --max-runs 1 stops the command at planning, after the line that says which it runs
    proc = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "run", "--suite", "ml", "--max-runs", "1",
         "--out", str(tmp_path / "o")], env=env, capture_output=True, text=True, timeout=120)
    first = proc.stdout.splitlines()[0]
    assert "synthetic" in first and "pip install 'optbench[data]'" in first
    for spec in suite.SYNTHETIC_ML_PROBLEMS:
        assert spec in first


L_IN_A_NEW_PROCESS = """
from optbench.plan import build_problem, resolve_problem
from optbench.spec import parse
print(repr(build_problem(resolve_problem(parse("logistic-regression"))).L))
"""


def test_L_is_the_same_in_every_process(tmp_path):
    """L enters run identities (lr=1/L): solved afresh in two processes (no cache to share),
    it must be the same number to the last digit, or a resume reruns every such run."""
    from tests.conftest import ROOT

    Ls = {
        subprocess.run([sys.executable, "-c", L_IN_A_NEW_PROCESS], capture_output=True,
                       text=True, check=True, cwd=ROOT,
                       env=dict(os.environ, OPTBENCH_CACHE_DIR=str(tmp_path / f"c{k}"))).stdout
        for k in range(3)
    }
    assert len(Ls) == 1, Ls
