"""Problem labels as the report shows them.

A problem's stored label is its identity: it carries the parameters its factory resolved
(``Problem(resolved=...)``, e.g. the ``content_hash`` that pins a data set), so a changed
file is a different problem. A reader needs the variant, not the digest: the report shows
each label without its resolved parameters, unless two problems of the report would then
read the same (two versions of one data set), where both keep their full labels.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["shown_problem_labels"]


def _without_resolved(label: str, resolved: dict[str, Any]) -> str:
    if not resolved:
        return label
    from ..plan import label as spec_label
    from ..spec import Spec, parse

    try:
        spec = parse(label)
    except Exception:  # noqa: BLE001 — a label the parser cannot read back is shown as is
        return label
    return spec_label(Spec(spec.name, {k: v for k, v in spec.params.items() if k not in resolved}))


def shown_problem_labels(
    labels: dict[str, str], infos: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """problem_key -> the label shown, for the problems in ``labels`` (key -> stored label).

    >>> shown_problem_labels({"k1": "mlp[content_hash=ab12,dataset=wine]"},
    ...                      {"k1": {"resolved": {"content_hash": "ab12"}}})
    {'k1': 'mlp[dataset=wine]'}
    """
    short = {k: _without_resolved(lab, dict(infos.get(k, {}).get("resolved") or {}))
             for k, lab in labels.items()}
    seen = Counter(short.values())
    return {k: short[k] if seen[short[k]] == 1 else labels[k] for k in labels}
