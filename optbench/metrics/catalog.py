"""The metric catalogue: every key :func:`~optbench.metrics.batch_metrics` returns, its unit.

The report reads :data:`METRICS` for captions; :data:`INT_KEYS` and :data:`STR_KEYS` fix how
each value is stored (the rest are floats). Targets are written ``1e-1`` … ``1e-8`` in keys.
"""

from __future__ import annotations

TARGETS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
REL_TARGETS = (1e-1, 1e-3, 1e-5, 1e-7)
SETTLE_BANDS = (0.02, 0.05)


def target_key(eps: float) -> str:
    """``1e-1`` … ``1e-8``: how a target is written in metric names."""
    return f"{eps:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _build_catalog() -> dict[str, str]:
    m = {
        "gap_final": "final optimality gap f(x_T) − f* (units of f)",
        "gap_best": "best gap reached, gap⁺_T = min_t f(x_t) − f* (units of f)",
        "dist_final": "final distance ‖x_T − x*_ref‖ (units of x)",
        "gnorm_final": "final gradient norm ‖∇f(x_T)‖ (units of f per unit x)",
    }
    for eps in TARGETS:
        k = target_key(eps)
        m[f"hit_iter_{k}"] = f"first update t with gap⁺_t ≤ {k} (updates; None = never)"
        m[f"hit_cost_{k}"] = f"evaluations n_f + n_g spent when gap⁺ first ≤ {k} (evaluations)"
        m[f"hit_time_{k}"] = (
            f"the batch clock (the trace's time) when gap⁺ first ≤ {k}; the runs of a batch "
            "share it (seconds)"
        )
    for tau in REL_TARGETS:
        k = target_key(tau)
        m[f"rel_hit_iter_{k}"] = (
            f"first t with gap⁺_t ≤ {k}·gap_0, Moré–Wild test (updates; "
            "without f* the run's best value stands in for f*)"
        )
        m[f"rel_hit_cost_{k}"] = (
            f"evaluations when the relative target {k} is first met (evaluations)"
        )
        m[f"rel_hit_time_{k}"] = (
            f"the batch clock when the relative target {k} is first met (seconds)"
        )
    for eps in TARGETS:
        k = target_key(eps)
        m[f"stay_iter_{k}"] = f"last entry: first t with gap_s ≤ {k} for every s ≥ t (updates)"
    m.update(
        {
            "aulg": (
                "area under log10 gap⁺ per unit budget, incumbent frozen after the run stops: "
                "over the evaluation budget when there is one, else over max_iter updates ("
                "decades, lower is better)"
            ),
            "rate_f": "empirical linear rate of gap_t: e^b of the OLS fit ln gap_t = a + b·t "
            "on 1e3·floor < gap_t < 0.1·gap_0, ≥ 5 points (per update)",
            "rate_f_cost": "empirical linear rate of gap per evaluation: e^b of the OLS fit "
            "ln gap_t = a + b·cost_t, cost = n_f + n_g, on rate_f's window (per evaluation)",
            "rate_x": "empirical linear rate of dist_t, same fit on 1e-7·max(1,|x*|) < dist_t < "
            "0.1·dist_0 (per update)",
            "rate_x_pole": "empirical linear rate of dist_t allowing a double pole: e^b of "
            "the OLS fit ln dist_t = a + b·t + c·ln t on rate_x's window, ≥ 10 points; "
            "unbiased where dist_t ∝ t·ρ^t (heavy ball and Nesterov at their optimal tunings), "
            "where rate_x reads the t factor as a slower rate (per update)",
            "order_x": "empirical order of convergence: median of q̂_t = ln(dist_{t+1}/dist_t) / "
            "ln(dist_t/dist_{t−1}) over t in rate_x's window with dist_{t+1} above its floor, "
            "no minimum count; 1 linear, 2 quadratic (dimensionless)",
            "po": "percent overshoot 100·max_t(−c_t)/‖e_0‖ along the initial direction "
            "(%; None for diverged runs: see po1)",
            "po1": "first-peak overshoot over the first stretch past x* (%)",
            "us": "undershoot: wrong-way start 100·max(0, −min_t p_t) (%)",
            "n_cross": "minimiser crossings: sign changes of the along-track error c_t (count)",
            "t_rise": "rise time t_0.9 − t_0.1, t_a = first t with progress p_t ≥ a (updates)",
            "t_peak": "peak time argmax_t p_t (updates)",
            "t_settle_2": "settling time: first t with dist_s ≤ 0.02·dist_0 for all s ≥ t "
            "(updates)",
            "t_settle_5": "settling time for the 5 % band (updates)",
            "t_settle_f_2": "f-space settling time: first t with gap_s ≤ 0.02²·gap_0 for all "
            "s ≥ t (updates; needs f*)",
            "t_settle_f_5": "f-space settling time, gap_s ≤ 0.05²·gap_0 (updates; needs f*)",
            "e_ss": "steady-state error: mean dist_t over the tail window W (units of x)",
            "e_ss_gap": "mean gap_t over the tail window W (units of f)",
            "cross_track": "cross-track excursion max_t r_t/‖e_0‖, n-D only (ratio)",
            "sc_rate": "step sign-change rate, mean over coordinates (fraction of step pairs)",
            "sc_rate_eig": "step sign-change rate in the Hessian's eigenbasis, mean over the "
            "directions of each one's rate; steps below round-off of x not counted, quadratics "
            "only (fraction)",
            "grad_rev": "gradient reversals: fraction of t with <g_t, g_{t+1}> < 0 (fraction)",
            "grad_sbar": "Pflug's statistic (1/T)Σ<g_t, g_{t+1}>, < 0 when bouncing "
            "(gradient²)",
            "zz_cos_mean": "mean zig-zag cosine between consecutive steps (in [−1, 1])",
            "zz_reversals": "fraction of consecutive steps with cosine < −0.5 (fraction)",
            "zz_right": "fraction of consecutive steps with |cosine| < 0.1 (fraction)",
            "n_up": "loss increases f_{t+1} > f_t + 1e-12·max(1,|f_t|) (count)",
            "up_frac": "loss increases per update (fraction)",
            "ascent_ratio": "total ascent Σmax(0, f_{t+1} − f_t) / (f_0 − min f) (ratio)",
            "tail_amp_x": "tail amplitude max_W ‖x_t − x̄_W‖ / dist_0 (ratio)",
            "tail_amp_f": "tail amplitude (max_W f − min_W f)/2 (units of f)",
            "cycle_period": "limit-cycle period P in 2..8 on the tail window, None if none "
            "(updates)",
            "straightness": "path straightness ‖x_T − x_0‖ / Σ‖s_t‖ (in (0, 1])",
            "th_regime": "theory: the GD regime of η·L (or heavy ball's damping), constant rate "
            "only",
            "th_po": "theory: percent overshoot of the predicted path (%)",
            "th_po1": "theory: first-peak overshoot of the predicted path (%)",
            "th_settle_2": "theory: 2 % settling time of the predicted path (updates)",
            "th_settle_5": "theory: 5 % settling time of the predicted path (updates)",
            "th_rate_x": "theory: linear rate of dist, max_i |1 − ηλ_i| (heavy ball: max |pole|) "
            "(per update)",
            "th_rate_f": "theory: linear rate of gap, th_rate_x² (per update)",
            "th_div_iter": "theory: update at which the predicted path trips the divergence test "
            "(updates)",
        }
    )
    return m


METRICS: dict[str, str] = _build_catalog()
"""Every key :func:`~optbench.metrics.batch_metrics` returns: a one-line description, its unit."""

INT_KEYS = frozenset(
    [
        k
        for k in METRICS
        if k.startswith(("hit_", "rel_hit_", "stay_iter_", "t_", "th_settle", "th_div"))
        and "hit_time_" not in k
    ]
    + ["n_cross", "n_up", "cycle_period"]
)
STR_KEYS = frozenset({"th_regime"})
