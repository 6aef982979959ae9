"""Is the miniature sensitive enough for its answer to mean something? Its design targets, checked.

The default world is a measuring instrument: the base model must know the classes yet suffer
the shift, fine-tuning must move it, SARR must have chains to keep, and the test sets must
resolve differences of a few points. Each target is a number the analysis stage measures;
the report shows which are met, so a reader knows how far to trust the comparisons.
"""

from __future__ import annotations

# (key, what is measured, lowest acceptable, highest acceptable)
TARGETS = [
    ("zeroshot_avg", "zero-shot held-out Avg (%)", 35.0, 75.0),
    ("label_source_val", "label SFT, source-domain validation accuracy (%)", 90.0, None),
    ("label_lift", "label SFT − zero-shot, held-out Avg (points)", 15.0, None),
    ("label_class_tokens_high", "class tokens with p > 0.75 under q_cls after label SFT (%)", 50.0, None),
    ("sarr_acceptance_after_mtct", "self-chains kept in SARR's first round after MTCT (%)", 50.0, None),
    ("avg_binomial_se_max", "largest binomial SE of a method's held-out Avg (points)", None, 1.5),
]


def _target(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    return f"≥ {low:g}" if low is not None else f"≤ {high:g}"


def checks(values: dict[str, float | None]) -> list[dict]:
    """One row per target: what, measured value (None: not measured in this run), target, met."""
    rows = []
    for key, what, low, high in TARGETS:
        v = values.get(key)
        met = None if v is None else bool((low is None or v >= low) and (high is None or v <= high))
        rows.append({"key": key, "what": what, "value": None if v is None else float(v),
                     "target": _target(low, high), "met": met})
    return rows
