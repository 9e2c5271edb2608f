"""The optax adapter against optbench's own update rules (float64). Needs the optax extra,
except the missing-extra test, which runs without it."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import needs
from tests.test_update_rules import _run

needs_optax = needs("optax")

# the same rule, spelled natively and through optax (optax's names; where its defaults
# differ from torch's — rmsprop's eps inside the root, adagrad's eps and initial value —
# the optax options are set to torch's)
PAIRS = [
    ("adam[lr=[0.01,0.3],beta1=[0.0,0.8],beta2=0.99]",
     "optax[fn=optax.adam,lr=[0.01,0.3],b1=[0.0,0.8],b2=0.99]"),
    ("momentum[lr=[0.0005,0.001],momentum=0.9]",
     "optax[fn=optax.sgd,lr=[0.0005,0.001],momentum=0.9]"),
    ("nesterov[lr=0.001,momentum=0.8]", "optax[fn=optax.sgd,lr=0.001,momentum=0.8,nesterov=true]"),
    ("rmsprop[lr=0.01,alpha=0.9]",
     "optax[fn=optax.rmsprop,lr=0.01,decay=0.9,eps=1e-8,eps_in_sqrt=false]"),
    ("adagrad[lr=0.5,eps=0]",
     "optax[fn=optax.adagrad,lr=0.5,eps=0,initial_accumulator_value=0]"),
    ("adamw[lr=0.05,weight_decay=[0.0,0.1]]",
     "optax[fn=optax.adamw,lr=0.05,weight_decay=[0.0,0.1]]"),
    ("lion[lr=[0.001,0.01],beta1=0.9,beta2=0.99,weight_decay=0.3]",
     "optax[fn=optax.lion,lr=[0.001,0.01],b1=0.9,b2=0.99,weight_decay=0.3]"),
    ("gd[lr=0.001,schedule=cosine(T=15)]",
     "optax[fn=optax.sgd,schedule=optax.cosine_decay_schedule(init_value=0.001,decay_steps=15)]"),
]


@needs_optax
@pytest.mark.parametrize("problem", ["linear-regression", "rosenbrock"])
@pytest.mark.parametrize("native,adapted", PAIRS, ids=[p[0] for p in PAIRS])
def test_optax_reproduces_the_native_rule_per_step(problem, native, adapted):
    ours = _run(problem, native, budget=30)
    theirs = _run(problem, adapted, budget=30)
    assert len(ours) == len(theirs) >= 2
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        n = min(a.summary.n_iter, b.summary.n_iter, 15)  # the cosine case: optax clamps at T
        assert n >= 2
        np.testing.assert_allclose(b.trace["x"][: n + 1], a.trace["x"][: n + 1],
                                   rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(b.trace["lr"][:n], a.trace["lr"][:n], rtol=1e-12)


@needs_optax
def test_a_batch_equals_its_runs_one_at_a_time_and_conforms():
    from optbench.testing import check_optimizer

    checks = check_optimizer("optax[fn=optax.nadamw,lr=[0.01,0.05],weight_decay=[0.0,0.1]]")
    assert not [(w, d) for w, ok, d in checks if not ok]


def test_without_optax_the_error_names_the_pip_install(tmp_path):
    # needs no optax: it hides optax (installed or not) from the run's process
    probe = (
        "import sys\n"
        "sys.modules['optax'] = None  # as if the extra were not installed\n"
        "from optbench.cli import main\n"
        f"main(['run', '-p', 'booth', '-o', 'optax', '--budget', '5',"
        f" '--out', {str(tmp_path)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"), timeout=120)
    assert proc.returncode == 2
    assert "pip install 'optbench[optax]'" in proc.stderr and "Traceback" not in proc.stderr
