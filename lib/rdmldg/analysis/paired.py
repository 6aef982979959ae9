"""Paired comparisons of two methods on the same test images: difference, bootstrap CI, verdict.

Two methods evaluated on the same held-out images are compared image by image: each image
contributes correct_a − correct_b ∈ {−1, 0, 1}, so the variation between images that both
methods share (easy and hard images) cancels, and the interval is far narrower than the two
methods' binomial errors added. The bootstrap is hierarchical where there are several trial
seeds: a replicate draws trial seeds with replacement, then images with replacement within
each drawn (trial, domain), so both sources of noise are in the interval. Avg is the mean
of the per-domain differences, as DomainBed's Avg is the mean of the per-domain accuracies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

AVG = "Avg"


def correctness(test: pd.DataFrame, readout: str = "loglik") -> pd.DataFrame:
    """Per (method, trial, domain, image_id): 1 if the readout named the true class. `test` holds
    one row per held-out test image and run, with columns method, trial, domain, image_id,
    class_name and the readout's prediction."""
    need = {"method", "trial", "domain", "image_id", "class_name", readout}
    if missing := need - set(test.columns):
        raise ValueError(f"test predictions lack column(s) {', '.join(sorted(missing))}")
    out = test[["method", "trial", "domain", "image_id"]].copy()
    out["correct"] = (test[readout] == test["class_name"]).astype(float).to_numpy()
    if out.duplicated(["method", "trial", "domain", "image_id"]).any():
        raise ValueError("an image appears twice for one method, trial and domain")
    return out


def binomial_se(correct: pd.DataFrame) -> pd.DataFrame:
    """Per method: accuracy and binomial SE (percent) per domain and for Avg (the mean of the
    per-domain accuracies, so its SE is √(Σ se_d²) / D), with the number of test images."""
    rows = []
    for method, g in correct.groupby("method", sort=False):
        cells = g.groupby("domain")["correct"].agg(["mean", "count"])
        se = np.sqrt(cells["mean"] * (1 - cells["mean"]) / cells["count"])
        for domain, r in cells.iterrows():
            rows.append({"method": method, "domain": domain, "accuracy": 100 * r["mean"], "se": 100 * se[domain],
                         "n": int(r["count"])})
        rows.append({"method": method, "domain": AVG, "accuracy": 100 * cells["mean"].mean(),
                     "se": 100 * float(np.sqrt((se ** 2).sum())) / len(cells), "n": int(cells["count"].sum())})
    return pd.DataFrame(rows)


def _paired_cells(correct: pd.DataFrame, a: str, b: str) -> dict[tuple[int, str], np.ndarray]:
    """(trial, domain) -> per-image differences correct_a − correct_b, paired by image_id."""
    left = correct[correct["method"] == a].set_index(["trial", "domain", "image_id"])["correct"]
    right = correct[correct["method"] == b].set_index(["trial", "domain", "image_id"])["correct"]
    if not len(left) or not len(right):
        raise ValueError(f"no test predictions for {a if not len(left) else b}")
    if not left.index.sort_values().equals(right.index.sort_values()):
        raise ValueError(f"{a} and {b} were not evaluated on the same test images; a paired comparison needs them")
    diff = (left - right.reindex(left.index)).sort_index()
    return {key: g.to_numpy() for key, g in diff.groupby(level=["trial", "domain"])}


def paired_difference(correct: pd.DataFrame, a: str, b: str, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> pd.DataFrame:
    """Accuracy of a minus b (points) per domain and on Avg: the observed difference, a
    percentile bootstrap CI at `level`, and whether the CI excludes zero."""
    cells = _paired_cells(correct, a, b)
    trials = sorted({t for t, _ in cells})
    domains = sorted({d for _, d in cells})
    if any((t, d) not in cells for t in trials for d in domains):
        raise ValueError(f"{a} vs {b}: every trial seed needs every held-out domain")
    rng = np.random.default_rng(seed)
    # replicate r uses trial slot k -> trial picks[r, k]; each slot resamples its images afresh
    picks = rng.integers(len(trials), size=(n_boot, len(trials))) if len(trials) > 1 else \
        np.zeros((n_boot, 1), dtype=int)
    boot = np.zeros((n_boot, len(domains)))
    for j, d in enumerate(domains):
        for k in range(len(trials)):
            slot = np.empty(n_boot)
            for t_i, t in enumerate(trials):
                chosen = picks[:, k] == t_i
                if chosen.any():
                    x = cells[(t, d)]
                    slot[chosen] = x[rng.integers(len(x), size=(int(chosen.sum()), len(x)))].mean(axis=1)
            boot[:, j] += slot / len(trials)
    observed = np.array([np.mean([cells[(t, d)].mean() for t in trials]) for d in domains])
    tail = 100 * (1 - level) / 2
    rows = []
    for name, obs, dist in [*zip(domains, observed, boot.T, strict=True), (AVG, observed.mean(), boot.mean(axis=1))]:
        lo, hi = np.percentile(dist, [tail, 100 - tail])
        rows.append({"a": a, "b": b, "domain": name, "difference": 100 * float(obs), "ci_low": 100 * float(lo),
                     "ci_high": 100 * float(hi), "significant": bool(lo > 0 or hi < 0)})
    return pd.DataFrame(rows)


def study_pairs(methods: list[str], zero_shot: str = "zeroshot", label: str = "label") -> list[tuple[str, str]]:
    """The comparisons the study reports: every method against the zero-shot base, every
    fine-tuned method against label SFT, the two steps of RD-MLDG (MTCT − reasoning,
    RD-MLDG − MTCT) and SARR's rounds over the reasoning SFT they start from (SARR −
    reasoning), for those of them that are in `methods`. A pair added to the study goes last,
    since each pair's bootstrap seed is its position: the others' intervals stay as they were."""
    wanted = [(m, zero_shot) for m in methods if m != zero_shot]
    wanted += [(m, label) for m in methods if m not in (zero_shot, label)]
    wanted += [("mtct", "reasoning"), ("rdmldg", "mtct"), ("sarr", "reasoning")]
    present = set(methods)
    return [p for i, p in enumerate(wanted) if set(p) <= present and p not in wanted[:i]]


def comparisons(correct: pd.DataFrame, pairs: list[tuple[str, str]], n_boot: int = 2000, level: float = 0.95,
                seed: int = 0) -> pd.DataFrame:
    """paired_difference for every (a, b) whose two methods were both evaluated."""
    present = set(correct["method"])
    return pd.concat([paired_difference(correct, a, b, n_boot, level, seed + i)
                      for i, (a, b) in enumerate(pairs) if a in present and b in present], ignore_index=True)


def check_against_lodo(diffs: pd.DataFrame, lodo: pd.DataFrame) -> None:
    """Each pair's paired mean on Avg is the difference of the two methods' Avg in the LODO
    table (same test images, same readouts); anything else means the two were computed from
    different predictions."""
    for (a, b), g in diffs.groupby(["a", "b"], sort=False):
        want, got = lodo.loc[a, "Avg"] - lodo.loc[b, "Avg"], g.set_index("domain").loc[AVG, "difference"]
        if abs(got - want) >= 1e-6:
            raise AssertionError(f"{a} − {b}: paired mean {got} on Avg, but the LODO table says {want}")


def verdict(row) -> str:
    """'a − b = +x.x points [lo, hi]: significant' in words a reader can quote."""
    word = "significant" if row["significant"] else "not significant"
    return (f"{row['a']} − {row['b']} = {row['difference']:+.1f} points "
            f"[{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]: {word}")


def compact_headline(avg: dict[str, float], rows: list[dict]) -> dict:
    """The few numbers worth a column in `dvc exp show`: each method's held-out Avg and each
    paired comparison on Avg (difference, interval, significant), keyed `a-b`."""
    return {"heldout_avg": {m: float(v) for m, v in avg.items()},
            "paired_avg": {f"{r['a']}-{r['b']}": {"difference": float(r["difference"]), "ci_low": float(r["ci_low"]),
                                                 "ci_high": float(r["ci_high"]), "significant": bool(r["significant"])}
                           for r in rows if r["domain"] == AVG}}
