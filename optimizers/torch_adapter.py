"""Any ``torch.optim.Optimizer`` by import path: ``torch[cls=torch.optim.AdamW,lr=1e-3]``.

The adapter is written as a plug-in would be. Every option other than ``cls``, ``lr`` and
``scheduler`` goes to the optimizer's constructor as given (``weight_decay=0.01``,
``momentum=0.9``, ``nesterov=true``); a list is a sweep, so a tuple option is written as a
one-item sweep of a list, ``betas=[[0.9,0.99]]``. Third-party classes work the same way
(``cls=pytorch_optimizer.Lion``) if their package is installed.

How it runs:

* float64 throughout (torch's default dtype is float64 while an optimizer steps, so
  scalar state such as NAdam's momentum product is too): each run's point is one float64
  tensor of shape ``(d,)``, and each run has its own optimizer (and scheduler), so no
  state, norm or step count is shared between the runs of a batch. Per-run
  hyperparameters of a sweep go to their own run.
* Gradients come from the oracle (one ``n_g`` per run per update), are written into
  ``param.grad``, and ``optimizer.step()`` moves the tensor; the adapter then reads the
  parameter back as the optimizer left it (updated in place or given a new ``p.data``). A
  parameter left complex or with another shape is an error row. Torch never
  differentiates anything.
* ``scheduler`` is a ``torch.optim.lr_scheduler`` class (or any class taking the optimizer
  first) by import path, with its keyword arguments in parentheses:
  ``scheduler=torch.optim.lr_scheduler.OneCycleLR(max_lr=0.1,total_steps=200)``. It is
  stepped once after every ``optimizer.step()``, as torch users step a per-iteration
  scheduler. ``ReduceLROnPlateau`` is stepped with the run's training loss at the point
  of the update, which the adapter then asks the oracle for (one ``n_f`` per update).
* The recorded learning rate of update t is ``param_groups[0]["lr"]`` when ``step()`` runs.
* An optimizer whose ``step`` requires a closure (``torch.optim.LBFGS``) runs one run at a
  time: the closure evaluates f and the gradient through the oracle, each charged, so one
  ``step()`` (up to LBFGS's ``max_iter`` inner iterations) costs what it evaluates; the
  runner records the iterate after each ``step()``.

* ``device`` places the runs' tensors: ``cpu`` (the default: the tensors view the
  runner's arrays, nothing is copied) or ``cuda`` / ``"cuda:N"`` (quoted in a spec). On
  CUDA the gradient is copied to the GPU before ``step()`` and the point back after it,
  and each update ends with
  ``torch.cuda.synchronize()``: CUDA kernels run asynchronously, so without it the runner's
  clock (read after the update returns) would time the kernel launches, not the work, and
  the update's cost would show up in whichever later step first waits on the GPU. A device
  that is not ``cpu`` or ``cuda``, or a GPU torch cannot find, is a one-line error at plan
  time.

PyTorch is an optional dependency (``pip install 'optbench[torch]'``), imported only when a
spec names this adapter.
"""

from __future__ import annotations

from typing import Any

from optbench import Optimizer, check, register_optimizer
from optbench.extras import import_dotted, require


def _torch():
    return require("torch", "torch", "the torch adapter")


def optimizer_class(cls: str):
    """The ``torch.optim.Optimizer`` subclass at import path ``cls``."""
    torch = _torch()
    klass = import_dotted(cls, "cls")
    if not (isinstance(klass, type) and issubclass(klass, torch.optim.Optimizer)):
        raise ValueError(f"cls must name a torch.optim.Optimizer subclass, got {cls!r}")
    return klass


def needs_closure(klass) -> bool:
    """True where ``step`` cannot be called without a closure (LBFGS)."""
    import inspect

    closure = inspect.signature(klass.step).parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def _batchable(params: dict[str, Any]) -> bool:
    return not needs_closure(optimizer_class(params.get("cls", "torch.optim.SGD")))


def _scheduler(scheduler) -> tuple[Any, dict[str, Any]] | None:
    """``(class, kwargs)`` of a scheduler given as a dotted spec or a bare import path."""
    from optbench.spec import Spec

    if scheduler is None:
        return None
    if isinstance(scheduler, Spec):
        name, kwargs = scheduler.name, dict(scheduler.params)
    else:
        name, kwargs = scheduler, {}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return import_dotted(name, "scheduler"), kwargs


DEVICES = "'cpu' or 'cuda' (or 'cuda:N')"


def device_of(torch, name: Any):
    """The ``torch.device`` a ``device=`` option names, checked: ``cpu``, or a CUDA GPU that
    torch finds here; anything else is a one-line ValueError."""
    if not isinstance(name, str):
        raise ValueError(f"device must be {DEVICES}, got {name!r}")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"device must be {DEVICES}, got {name!r}") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise ValueError(f"device must be {DEVICES}, got {name!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {name!r} is not available here: torch finds no CUDA GPU "
                         "(torch.cuda.is_available() is False); expected device=cpu")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"device {name!r} is not available here: torch finds {count} CUDA "
                         f"GPU(s), cuda:0 to cuda:{count - 1}")
    return dev


def synchronizer(torch, dev):
    """What ends an update on ``dev``: ``torch.cuda.synchronize(dev)`` on a GPU, so the step
    returns only once its kernels have run and the runner's clock times the work (None on
    the CPU, where torch runs synchronously)."""
    if dev.type != "cuda":
        return None
    return lambda: torch.cuda.synchronize(dev)


def _needs_metric(sched) -> bool:
    import inspect

    metrics = inspect.signature(sched.step).parameters.get("metrics")
    return metrics is not None and metrics.default is inspect.Parameter.empty


class float64_scalars:
    """Torch's default dtype set to float64 while optimizers step: the scalar state some of
    them create on their first step (NAdam's ``mu_product``, every ``step`` count) takes the
    default dtype, float32 unless told otherwise."""

    def __init__(self, torch):
        self.torch = torch

    def __enter__(self):
        self.saved = self.torch.get_default_dtype()
        self.torch.set_default_dtype(self.torch.float64)

    def __exit__(self, *exc):
        self.torch.set_default_dtype(self.saved)


def _of_run(value, b: int):
    """Run ``b``'s value of a hyperparameter (a per-run ``(B, 1)`` column or shared)."""
    if hasattr(value, "shape"):
        return float(value[b, 0])
    return tuple(value) if isinstance(value, list) else value


@register_optimizer("torch", needs=("gradient",), batchable=_batchable)
def torch_optimizer(cls: str = "torch.optim.SGD", lr: float = 1e-3, scheduler: str | None = None,
                    **options) -> Optimizer:
    """Any torch.optim.Optimizer subclass by import path (``cls``), float64, one tensor and
    one optimizer per run; other options go to its constructor; ``scheduler`` is a torch LR
    scheduler by import path with its arguments; ``device`` is ``cpu`` (default) or
    ``cuda[:N]``."""
    import numpy as np

    torch = _torch()
    klass = optimizer_class(cls)
    check("lr", lr, lr > 0, "> 0")
    sched = _scheduler(scheduler)
    # not a named parameter: runs that do not name a device keep the identity they had
    dev = device_of(torch, options.pop("device", "cpu"))
    on_cpu = dev.type == "cpu"
    sync = synchronizer(torch, dev)

    def build(x: np.ndarray, b: int):
        """Run b's optimizer and scheduler for the float64 tensor viewing ``x`` (on the CPU;
        a copy of it on another device)."""
        if on_cpu:
            p = torch.from_numpy(x).requires_grad_()
        else:
            p = torch.tensor(x, dtype=torch.float64, device=dev).requires_grad_()
        kwargs = {k: _of_run(v, b) for k, v in options.items()}
        opt = klass([p], lr=_of_run(lr, b), **kwargs)
        with float64_scalars(torch):
            return p, opt, (None if sched is None else sched[0](opt, **sched[1]))

    # a bad option or scheduler argument fails now, once, with torch's own message
    build(np.zeros(1), 0)

    if needs_closure(klass):
        return Optimizer(run=_closure_run(torch, build, klass, dev, sync))

    def init(x0):
        X = np.array(x0, dtype=np.float64)  # the tensors view its rows: torch moves them in place
        G = np.zeros_like(X)
        runs = [build(X[b], b) for b in range(X.shape[0])]
        for b, (p, _, _) in enumerate(runs):  # on the CPU the gradient views G's row
            p.grad = torch.from_numpy(G[b]) if on_cpu else torch.zeros_like(p)
        return {"X": X, "G": G, "runs": runs, "frozen": np.zeros(X.shape[0], dtype=bool),
                "metric": sched is not None and _needs_metric(runs[0][2])}

    def step(x, state, oracle, t):
        X, G, runs = state["X"], state["G"], state["runs"]
        np.copyto(X, x)
        lrs = np.array([opt.param_groups[0]["lr"] for _, opt, _ in runs], dtype=float)
        if state["metric"]:
            f, g = oracle.value_and_grad(x)
        else:
            f, g = None, oracle.grad(x)
        np.copyto(G, g)
        active = oracle.active
        with float64_scalars(torch):
            for b, (p, opt, sch) in enumerate(runs):
                if not active[b]:
                    if not state["frozen"][b]:  # refused: never stepped again
                        state["frozen"][b] = True
                        p.grad = None
                    continue
                if not on_cpu:
                    p.grad.copy_(torch.from_numpy(G[b]))
                opt.step()
                if sch is not None:
                    sch.step(float(f[b])) if f is not None else sch.step()
                if on_cpu:
                    X[b] = _read_back(p, klass, X.shape[1])
            if sync is not None:  # the update's kernels done before its time is read
                sync()
                for b, (p, _, _) in enumerate(runs):
                    if active[b]:
                        X[b] = _read_back(p, klass, X.shape[1])
        state["lr"] = lrs
        return X.copy(), state

    return Optimizer(step=step, init=init)


def _read_back(p, klass, d: int):
    """The run's point as the optimizer left it: ``p`` itself, which an optimizer may have
    updated in place or replaced (``p.data = ...``); a complex or wrong-shaped point is an
    error, not a silent non-move."""
    t = p.detach()
    name = f"{klass.__module__}.{klass.__qualname__}"
    if t.is_complex():
        raise ValueError(f"{name} made the parameter complex ({t.dtype}); expected real values")
    if tuple(t.shape) != (d,):
        raise ValueError(f"{name} left the parameter with shape {tuple(t.shape)}, expected {(d,)}")
    return t.cpu().numpy()


def _closure_run(torch, build, klass, dev, sync):
    """The loop of a closure optimizer for one run, every closure evaluation charged."""
    import numpy as np

    def run(x0, oracle, callback):
        x = np.array(x0, dtype=np.float64)
        p, opt, sch = build(x, 0)
        metric = sch is not None and _needs_metric(sch)

        def closure():  # at the point as the optimizer left it (in place or replaced)
            f, g = oracle.scalar_value_and_grad(_read_back(p, klass, x.size))
            p.grad = torch.from_numpy(g).to(dev)
            return torch.tensor(f, dtype=torch.float64, device=dev)

        while True:
            with float64_scalars(torch):
                loss = opt.step(closure)
            if sch is not None:
                sch.step(float(loss)) if metric else sch.step()
            if sync is not None:
                sync()
            callback(_read_back(p, klass, x.size).copy())

    return run
