"""The base model before fine-tuning (docs/science.md §1B): zero-shot accuracy per domain with two
prompts and two readouts, in-context learning, label shift, spurious shots, and the
mapping-deficiency probe."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from rdmldg.analysis.icl import balanced_shots, icl_example, ratio_shots
from rdmldg.analysis.probe import linear_probe, vision_features
from rdmldg.chains import q_choice_list, q_cls
from rdmldg.data.images import load_image
from rdmldg.models.pretrain import vision_tower
from rdmldg.models.readout import accuracy, class_loglik, generate, loglik_predictions, parsed_predictions
from rdmldg.models.sequences import single
from rdmldg.params import EvalParams
from rdmldg.seeding import derive_seed, seeded_sample


class Images:
    """Images of a prepared dataset, loaded once."""

    def __init__(self, root: Path):
        self.root = root
        self.get = lru_cache(maxsize=None)(lambda rel: load_image(root / rel))


def sample_domain(manifest: pd.DataFrame, domain: str, n: int, seed: int, split_col: str) -> pd.DataFrame:
    part = manifest[(manifest["domain"] == domain) & (manifest[split_col] == "in")]
    return seeded_sample(part, n, seed, "zeroshot", domain)


def zero_shot(model, processor, manifest, images: Images, classes, p: EvalParams, split_col: str) -> pd.DataFrame:
    """Per domain: q_cls by log-likelihood and by generation, and the choice-list prompt."""
    rows = []
    for domain in manifest.drop_duplicates("domain").sort_values("env")["domain"]:
        part = sample_domain(manifest, domain, p.zeroshot.images_per_domain, p.zeroshot.seed, split_col)
        truth = list(part["class_name"])
        imgs = [images.get(r) for r in part["path"]]
        cls_ex = [single(im, q_cls(classes)) for im in imgs]
        choice_ex = [single(im, q_choice_list(classes)) for im in imgs]
        ll = accuracy(loglik_predictions(class_loglik(model, processor, cls_ex, classes, p.batch_size), classes), truth)
        answers = generate(model, processor, cls_ex, p.max_new_tokens, p.generate_batch_size)
        gen_cls = accuracy(parsed_predictions(answers, classes), truth)
        answers = generate(model, processor, choice_ex, p.max_new_tokens, p.generate_batch_size)
        gen_choice = accuracy(parsed_predictions(answers, classes), truth)
        rows.append({"domain": domain, "n": len(truth),
                     "q_cls_loglik": ll["accuracy"], "q_cls_generate": gen_cls["accuracy"],
                     "q_cls_parse_failures": gen_cls["parse_failure_rate"],
                     "choice_list_generate": gen_choice["accuracy"],
                     "choice_list_parse_failures": gen_choice["parse_failure_rate"]})
    return pd.DataFrame(rows).set_index("domain")


def _icl_accuracy(model, processor, examples, classes, p: EvalParams) -> float:
    scores = class_loglik(model, processor, examples, classes, max(1, p.batch_size // 2))
    return accuracy(loglik_predictions(scores, classes), [e.meta["label"] for e in examples])["accuracy"]


def in_context(model, processor, manifest, images: Images, classes, p: EvalParams, split_col: str) -> pd.DataFrame:
    """Accuracy by number of shots, shots from the source domains vs from the target domain."""
    rows = []
    z = p.zeroshot
    for domain in manifest.drop_duplicates("domain").sort_values("env")["domain"]:
        queries = sample_domain(manifest, domain, z.icl_queries, z.seed + 1, split_col)
        pools = {"source": manifest[manifest["domain"] != domain],
                 "target": manifest[(manifest["domain"] == domain) & ~manifest.index.isin(queries.index)]}
        for origin, pool in pools.items():
            for k in z.shots:
                rng = np.random.default_rng(derive_seed(z.seed, "icl", domain, origin, k))
                examples = [icl_example(balanced_shots(pool, k, rng), q, classes, images.get)
                            for _, q in queries.iterrows()]
                rows.append({"domain": domain, "shots_from": origin, "shots": k,
                             "accuracy": _icl_accuracy(model, processor, examples, classes, p)})
    return pd.DataFrame(rows)


def label_shift(model, processor, manifest, images: Images, classes, p: EvalParams, split_col: str) -> pd.DataFrame:
    """8 source-domain shots; the share carrying the query's own class varies."""
    rows = []
    z = p.zeroshot
    for domain in manifest.drop_duplicates("domain").sort_values("env")["domain"]:
        queries = sample_domain(manifest, domain, z.icl_queries, z.seed + 1, split_col)
        pool = manifest[manifest["domain"] != domain]
        for share in z.label_shift_shares:
            rng = np.random.default_rng(derive_seed(z.seed, "label-shift", domain, share))
            examples = [icl_example(ratio_shots(pool, 8, q["class_name"], share, rng), q, classes, images.get)
                        for _, q in queries.iterrows()]
            rows.append({"domain": domain, "share_of_query_class": share,
                         "accuracy": _icl_accuracy(model, processor, examples, classes, p)})
    return pd.DataFrame(rows)


def spurious_shots(model, processor, manifest, images: Images, classes, p: EvalParams, split_col: str,
                   attribute: str, class_value) -> pd.DataFrame:
    """8 shots whose `attribute` always takes their class's own value; queries where it agrees
    with the query's class ('aligned') vs where it is another class's value ('flipped')."""
    col = f"attr_{attribute}"
    own = manifest["class_name"].map(lambda c: class_value(attribute, c))
    values = {class_value(attribute, c) for c in classes}
    aligned_pool = manifest[manifest[col] == own]
    flipped_pool = manifest[(manifest[col] != own) & manifest[col].isin(values)]
    rows = []
    z = p.zeroshot
    for domain in manifest.drop_duplicates("domain").sort_values("env")["domain"]:
        shots_pool = aligned_pool[aligned_pool["domain"] != domain]
        for kind, pool in (("aligned", aligned_pool), ("flipped", flipped_pool)):
            qpool = pool[(pool["domain"] == domain) & (pool[split_col] == "in")]
            queries = seeded_sample(qpool, z.icl_queries, z.seed, kind, domain)
            rng = np.random.default_rng(derive_seed(z.seed, "spurious", domain, kind))
            examples = [icl_example(balanced_shots(shots_pool, 8, rng), q, classes, images.get)
                        for _, q in queries.iterrows()]
            if examples:
                rows.append({"domain": domain, "queries": kind, "n": len(examples),
                             "accuracy": _icl_accuracy(model, processor, examples, classes, p)})
    return pd.DataFrame(rows)


def mapping_probe(model, processor, manifest, images: Images, split_col: str, C: float) -> pd.DataFrame:
    """Per domain: a linear probe on frozen vision features (fit on `in`, scored on `out`)."""
    tower = vision_tower(model)
    rows = []
    for domain in manifest.drop_duplicates("domain").sort_values("env")["domain"]:
        part = manifest[manifest["domain"] == domain]
        X = vision_features(tower, processor, [images.get(r) for r in part["path"]])
        train = (part[split_col] == "in").to_numpy()
        y = part["label"].to_numpy()
        rows.append({"domain": domain, "probe_accuracy": linear_probe(X[train], y[train], X[~train], y[~train], C)})
    return pd.DataFrame(rows).set_index("domain")


def mapping_table(zeroshot_metrics: dict) -> pd.DataFrame:
    """Per domain, the base's zero-shot accuracy three ways beside the linear probe on its frozen
    vision features; "mapping gap" = probe − q_cls log-likelihood (the mapping deficiency)."""
    table = pd.DataFrame(zeroshot_metrics["zero_shot"]).T[["q_cls_loglik", "q_cls_generate", "choice_list_generate"]]
    table["linear probe"] = pd.Series(zeroshot_metrics["probe_accuracy"])
    table["mapping gap"] = table["linear probe"] - table["q_cls_loglik"]
    return table
