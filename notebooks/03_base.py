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
from IPython.display import display

from rdmldg import stage

session = stage.begin("base", params_dir)
model_params = session.params.model
display(session.provenance_table())
print(f"model source: {model_params.source}"
      + (f" — the checkpoint at {model_params.checkpoint}, loaded as it is: nothing is built or pretrained here"
         if model_params.source == "checkpoint" else " — built and pretrained below"))

# %% [markdown]
# ## A real checkpoint: record it, do not copy it

# %%
if model_params.source == "checkpoint":
    from rdmldg.models.base import record_checkpoint

    rec = record_checkpoint(session.root, model_params)
    print({k: v for k, v in rec.items() if k != "config"})
    session.write_metrics({"source": "checkpoint", "model_type": rec["model_type"]})

# %% [markdown]
# ## Build the embedded model

# %%
if model_params.source == "embedded":
    import matplotlib.pyplot as plt
    import pandas as pd

    from rdmldg import plots
    from rdmldg.models.base import base_dir
    from rdmldg.models.checkpoints import save_checkpoint
    from rdmldg.models.corpus import pretraining_examples, vision_corpus
    from rdmldg.models.lora import trainable_report
    from rdmldg.models.pretrain import build_base, pretrain, pretrain_vision, vision_tower

    manifest, info, root, chains = session.prepared()
    classes, pretrain_params = info["classes"], model_params.pretrain
    spec, processor, model = build_base(classes, list(chains.values()), model_params)
    print(f"preset {model_params.preset}: {spec}")
    print(f"vocabulary {len(processor.tokenizer)}; {spec.image_tokens} image tokens per image")
    display(trainable_report(model)[["total"]])

# %% [markdown]
# ## Phase 2's corpus (neutral style, disjoint from the benchmark)

# %%
if model_params.source == "embedded":
    examples = pretraining_examples(classes, pretrain_params.examples, pretrain_params.seed, spec.image_size)
    display(pd.Series([e.meta["task"] for e in examples]).value_counts().to_frame("examples"))
    plots.image_row([ex.images[-1] for ex in examples[:6]], [f"{ex.meta['task']}\n{ex.target[:28]}"
                                                             for ex in examples[:6]], height=2.6)

# %% [markdown]
# ## Phase 1: the vision tower alone, on its own corpus; phase 2: the whole model

# %%
if model_params.source == "embedded":
    vision_images, vision_labels = vision_corpus(classes, pretrain_params.vision_examples, pretrain_params.seed,
                                                 spec.image_size, pretrain_params.vision_corpus)
    plots.image_row(vision_images[:8], [classes[k] for k in vision_labels[:8]], height=1.9,
                    title=f"phase 1: {len(vision_images)} {pretrain_params.vision_corpus} images")
    plt.show()
    vision = pretrain_vision(vision_tower(model), processor.image_processor, vision_images, vision_labels,
                             len(classes), pretrain_params)
    print(f"phase 1: {vision['seconds']:.1f} s")
    run = pretrain(model, processor, examples, pretrain_params)
    print(f"phase 2: {run['seconds']:.1f} s, {run['tokens']} tokens, {run['tokens_per_s']:.0f} tokens/s")
    plots.pretraining_losses(vision["history"], run["history"])
    save_checkpoint(model.eval(), processor, base_dir(session.root))

# %% [markdown]
# ## What the base model says
# Greedy answers to the three prompts, on neutral images (its own world) and on one image
# of each benchmark domain.

# %%
if model_params.source == "embedded":
    from rdmldg.chains import q_choice_list, q_cls, q_reason
    from rdmldg.data import load_image
    from rdmldg.models.readout import generate, prompt_answers
    from rdmldg.models.sequences import single

    imgs = [("neutral", ex.images[-1], ex.meta["label"])
            for ex in pretraining_examples(classes, 2, 99, spec.image_size)]
    imgs += [(r.domain, load_image(root / r.path), r.class_name)
             for r in manifest.groupby("domain").head(1).itertuples()]
    prompts = {"q_cls": q_cls(classes), "choice list": q_choice_list(classes), "q_reason": q_reason(classes)}
    short, long = session.params.eval.max_new_tokens, session.params.eval.chain_max_new_tokens
    rows = prompt_answers(model, processor, imgs, prompts, {"q_cls": short, "choice list": short, "q_reason": long})
    with pd.option_context("display.max_colwidth", 200):
        display(pd.DataFrame(rows))

# %% [markdown]
# ## Its own reasoning style vs the teacher's
# The base model's chains (greedy, `q_reason`) on benchmark images, beside the teacher's
# chains for the same images: how often they parse, how long they are, and how much
# vocabulary they share (Jaccard).

# %%
if model_params.source == "embedded":
    from rdmldg.analysis.style import section_words, self_vs_teacher_metrics, style_summary

    sample = list(chains.items())[:48]
    own = generate(model, processor, [single(load_image(root / image_id), q_reason(classes)) for image_id, _ in sample],
                   session.params.eval.chain_max_new_tokens)
    teacher = [text for _, text in sample]
    style = style_summary({"base model (self)": own, "teacher": teacher})
    display(style.round(3))
    display(pd.concat({"self": section_words(own), "teacher": section_words(teacher)}, axis=1).round(1))
    print("example self-chain:\n", own[0])
    session.write_metrics({"source": "embedded", "preset": model_params.preset,
                           "parameters": int(sum(p.numel() for p in model.parameters())),
                           "final_loss": run["history"][-1]["loss"],
                           **self_vs_teacher_metrics(style, "base model (self)")})
    session.write_run_info({"pretrain_seconds": run["seconds"] + vision["seconds"], "vision_seconds": vision["seconds"],
                            "tokens": run["tokens"], "tokens_per_s": run["tokens_per_s"]})
