# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: RD-MLDG (.venv)
#     language: python
#     name: rdmldg
# ---

# %% [markdown]
# # Stage 3 — base: the multimodal LLM the study starts from
#
# **Question.** What model do the methods fine-tune, and what can it do before any
# fine-tuning?
#
# By default the pipeline builds its own MLLM offline — LLaVA architecture (SigLIP-style
# vision tower, projector, Qwen2-style decoder), a BPE tokenizer trained here — and
# pretrains it on corpora disjoint from the benchmark, in two phases. Phase 1: the vision
# tower alone learns the classes from images in generic styles of its own — filled,
# patterned or outlined objects on random surfaces, none of the benchmark's renderers (as a
# SigLIP/CLIP tower is pretrained on varied images before a LLaVA model is assembled).
# Phase 2: on the frozen tower, the projector and decoder learn the tasks — captions, short
# answers, few-shot sequences and chains in a *plain* style of its own — on neutral
# renderings (flat silhouettes on white). A real profile instead records a local checkpoint
# by path, config and content hash, and the sections on building and pretraining the
# embedded model stay empty (the first cell says which source this run used).

# %% tags=["parameters"]
params_dir = "params"

# %%
import torch
from IPython.display import display

from rdmldg import stage

S = stage.begin("base", params_dir)
P = S.params.model
display(S.provenance_table())
print(f"model source: {P.source}" + (f" — the checkpoint at {P.checkpoint}, loaded as it is: nothing is built or "
                                     "pretrained here" if P.source == "checkpoint" else
                                     " — built and pretrained below"))

# %% [markdown]
# ## A real checkpoint: record it, do not copy it

# %%
if P.source == "checkpoint":
    from rdmldg.models.base import record_checkpoint

    rec = record_checkpoint(S.root, P)
    print({k: v for k, v in rec.items() if k != "config"})
    S.write_metrics({"source": "checkpoint", "model_type": rec["model_type"]})

# %% [markdown]
# ## Build the embedded model

# %%
if P.source == "embedded":
    import matplotlib.pyplot as plt
    import pandas as pd

    from rdmldg import plots
    from rdmldg.chain_dataset import read as read_chains
    from rdmldg.data import read_prepared
    from rdmldg.models.base import base_dir
    from rdmldg.models.checkpoints import save_checkpoint
    from rdmldg.models.corpus import pretraining_examples, vision_corpus
    from rdmldg.models.embedded import PRESETS, build_model, build_processor, train_tokenizer
    from rdmldg.models.lora import trainable_report
    from rdmldg.models.pretrain import pretrain, pretrain_vision, tokenizer_corpus, vision_tower

    manifest, info = read_prepared(S.root / "data" / "prepared")
    classes = info["classes"]
    teacher_chains = [r["text"] for r in read_chains(S.root / "data" / "chains")[0]]
    spec = PRESETS[P.preset]
    tokenizer = train_tokenizer(tokenizer_corpus(classes, teacher_chains), P.pretrain.vocab_size)
    processor = build_processor(tokenizer, spec)
    model = build_model(spec, tokenizer, P.pretrain.seed)
    print(f"preset {P.preset}: {spec}")
    print(f"vocabulary {len(tokenizer)}; {spec.image_tokens} image tokens per image")
    display(trainable_report(model)[["total"]])

# %% [markdown]
# ## Phase 2's corpus (neutral style, disjoint from the benchmark)

# %%
if P.source == "embedded":
    examples = pretraining_examples(classes, P.pretrain.examples, P.pretrain.seed, spec.image_size)
    tasks = pd.Series([e.meta["task"] for e in examples]).value_counts()
    display(tasks.to_frame("examples"))
    fig, axes = plt.subplots(1, 6, figsize=(13, 2.6))
    for ax, ex in zip(axes, examples[:6]):
        ax.imshow(ex.images[-1]); ax.set_xticks([]); ax.set_yticks([])
        ax.set_title(f"{ex.meta['task']}\n{ex.target[:28]}", fontsize=8)

# %% [markdown]
# ## Phase 1: the vision tower alone, on its own corpus; phase 2: the whole model

# %%
if P.source == "embedded":
    vision_images, vision_labels = vision_corpus(classes, P.pretrain.vision_examples, P.pretrain.seed, spec.image_size,
                                                 P.pretrain.vision_corpus)
    fig, axes = plt.subplots(1, 8, figsize=(13, 1.9))
    for ax, img, k in zip(axes, vision_images, vision_labels):
        ax.imshow(img); ax.set_xticks([]); ax.set_yticks([]); ax.set_title(classes[k], fontsize=8)
    fig.suptitle(f"phase 1: {len(vision_images)} {P.pretrain.vision_corpus} images", fontsize=9)
    plt.show()
    vision = pretrain_vision(vision_tower(model), processor.image_processor, vision_images, vision_labels, len(classes), P.pretrain)
    print(f"phase 1: {vision['seconds']:.1f} s")
    run = pretrain(model, processor, examples, P.pretrain)
    print(f"phase 2: {run['seconds']:.1f} s, {run['tokens']} tokens, {run['tokens_per_s']:.0f} tokens/s")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    pd.DataFrame(vision["history"]).plot(x="epoch", y="loss", ax=axes[0], title="phase 1: vision tower (cross-entropy)", legend=False)
    pd.DataFrame(run["history"]).plot(x="step", y="loss", ax=axes[1], title="phase 2: whole model (token loss)", legend=False)
    axes[1].set_yscale("log")
    fig.tight_layout()
    save_checkpoint(model.eval(), processor, base_dir(S.root))

# %% [markdown]
# ## What the base model says
# Greedy answers to the three prompts, on neutral images (its own world) and on one image
# of each benchmark domain.

# %%
if P.source == "embedded":
    from rdmldg.chains import q_choice_list, q_cls, q_reason
    from rdmldg.data import image_root, load_image
    from rdmldg.evaluation.scoring import generate
    from rdmldg.training.collate import single

    root = image_root(info, S.root)
    sample = manifest.groupby("domain").head(1)
    imgs = [("neutral", ex.images[-1], ex.meta["label"]) for ex in pretraining_examples(classes, 2, 99, spec.image_size)]
    imgs += [(r.domain, load_image(root / r.path), r.class_name) for r in sample.itertuples()]
    rows = []
    for prompt_name, prompt in (("q_cls", q_cls(classes)), ("choice list", q_choice_list(classes)), ("q_reason", q_reason(classes))):
        answers = generate(model, processor, [single(im, prompt) for _, im, _ in imgs],
                           S.params.eval.chain_max_new_tokens if prompt_name == "q_reason" else S.params.eval.max_new_tokens)
        rows += [{"image": d, "true": t, "prompt": prompt_name, "answer": a} for (d, _, t), a in zip(imgs, answers)]
    with pd.option_context("display.max_colwidth", 200):
        display(pd.DataFrame(rows))

# %% [markdown]
# ## Its own reasoning style vs the teacher's
# The base model's chains (greedy, `q_reason`) on benchmark images, beside the teacher's
# chains for the same images: how often they parse, how long they are, and how much
# vocabulary they share (Jaccard).

# %%
if P.source == "embedded":
    from rdmldg.analysis.style import section_words, style_summary

    accepted = read_chains(S.root / "data" / "chains")[0][:48]
    own = generate(model, processor, [single(load_image(root / r["image_id"]), q_reason(classes)) for r in accepted],
                   S.params.eval.chain_max_new_tokens)
    style = style_summary({"base model (self)": own, "teacher": [r["text"] for r in accepted]})
    display(style.round(3))
    display(pd.concat({"self": section_words(own), "teacher": section_words([r["text"] for r in accepted])}, axis=1).round(1))
    print("example self-chain:\n", own[0])
    S.write_metrics({
        "source": "embedded", "preset": P.preset, "parameters": int(sum(p.numel() for p in model.parameters())),
        "final_loss": run["history"][-1]["loss"],
        "self_chain_parse_rate": float(style.loc["base model (self)", "parses"]),
        "self_chain_mean_words": float(style.loc["base model (self)", "mean_words"]),
        "teacher_chain_mean_words": float(style.loc["teacher", "mean_words"]),
        "vocabulary_overlap": float(style.loc["teacher", "overlap_with_base model (self)"]),
    })
    S.write_run_info({"pretrain_seconds": run["seconds"] + vision["seconds"], "vision_seconds": vision["seconds"],
                      "tokens": run["tokens"], "tokens_per_s": run["tokens_per_s"]})
