"""The embedded MLLM: a LLaVA-architecture model built from transformers configs.

A SigLIP-style vision tower (with a convolutional stem, `convstem.py`, unless the spec has
no stem channels), a two-layer projector and a Qwen2-style decoder, with a byte-level BPE
tokenizer trained offline and a processor whose chat template marks the image. Saved and
loaded with save_pretrained / from_pretrained (safetensors), so it travels the same
Auto-class code path as any real checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>", IMAGE_TOKEN]


def chat_template(image_placeholder: str) -> str:
    """A ChatML-style template; each image part becomes `image_placeholder`."""
    return (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}" + image_placeholder + "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


CHAT_TEMPLATE = chat_template(IMAGE_TOKEN)


@dataclass(frozen=True)
class LlavaSpec:
    """Sizes of the embedded model (vocabulary size comes from the tokenizer). With
    `stem_channels` the tower patchifies through stride-2 convolutions of those widths
    (`patch_size` = 2 ** (len + 1)); empty, through SigLIP's single patch convolution."""

    image_size: int = 32
    patch_size: int = 8
    stem_channels: tuple[int, ...] = ()
    vision_hidden: int = 32
    vision_layers: int = 1
    vision_heads: int = 2
    text_hidden: int = 32
    text_layers: int = 1
    text_heads: int = 2
    text_kv_heads: int = 1
    max_positions: int = 512

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


# Sizes chosen by measured CPU throughput and the tower's linear probe on source validation
# (README design notes): `default` keeps the whole default study inside its budget on 2
# cores; `bigger` is for a laptop with time to spare.
PRESETS = {
    "smoke": LlavaSpec(image_size=32, patch_size=8, stem_channels=(8, 16), vision_hidden=32, vision_layers=1,
                       vision_heads=2, text_hidden=48, text_layers=2, text_heads=4, text_kv_heads=2),
    "default": LlavaSpec(image_size=32, patch_size=8, stem_channels=(32, 64), vision_hidden=96, vision_layers=1,
                         vision_heads=4, text_hidden=64, text_layers=2, text_heads=4, text_kv_heads=2),
    "bigger": LlavaSpec(image_size=32, patch_size=8, stem_channels=(32, 64), vision_hidden=128, vision_layers=2,
                        vision_heads=4, text_hidden=96, text_layers=3, text_heads=4, text_kv_heads=2),
}


def train_tokenizer(texts: Iterable[str], vocab_size: int, extra_special: dict[str, str] | None = None,
                    chat_template: str = CHAT_TEMPLATE):
    """A byte-level BPE tokenizer trained offline on `texts`, wrapped for transformers.

    `extra_special` maps attribute names to special tokens (e.g. {"image_token": "<image>"}).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    extra = extra_special if extra_special is not None else {"image_token": IMAGE_TOKEN}
    specials = SPECIAL_TOKENS[:4] + [t for t in extra.values() if t not in SPECIAL_TOKENS[:4]]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>",
        extra_special_tokens=extra, chat_template=chat_template,
    )


def build_processor(tokenizer, spec: LlavaSpec):
    """LLaVA processor with the PIL image backend (no torchvision needed)."""
    from transformers import LlavaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    images = SiglipImageProcessorPil(size={"height": spec.image_size, "width": spec.image_size})
    return LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=spec.patch_size,
                          vision_feature_select_strategy="full", chat_template=CHAT_TEMPLATE)


def vision_config(spec: LlavaSpec):
    """The tower's config: SigLIP with a conv stem (`convstem.py`), or plain SigLIP without one."""
    from transformers import SiglipVisionConfig

    from rdmldg.models.convstem import ConvStemVisionConfig

    sizes = dict(hidden_size=spec.vision_hidden, intermediate_size=4 * spec.vision_hidden,
                 num_hidden_layers=spec.vision_layers, num_attention_heads=spec.vision_heads,
                 image_size=spec.image_size, patch_size=spec.patch_size)
    return ConvStemVisionConfig(stem_channels=list(spec.stem_channels), **sizes) if spec.stem_channels \
        else SiglipVisionConfig(**sizes)


def build_model(spec: LlavaSpec, tokenizer, seed: int = 0):
    """A randomly initialised LLaVA model of the given sizes."""
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, Qwen2Config

    from rdmldg import numerics

    numerics.configure_torch()

    vision = vision_config(spec)
    text = Qwen2Config(vocab_size=len(tokenizer), hidden_size=spec.text_hidden,
                       intermediate_size=4 * spec.text_hidden, num_hidden_layers=spec.text_layers,
                       num_attention_heads=spec.text_heads, num_key_value_heads=spec.text_kv_heads,
                       max_position_embeddings=spec.max_positions, tie_word_embeddings=True,
                       pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-1,
                         image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                         vision_feature_select_strategy="full", projector_hidden_act="gelu")
    torch.manual_seed(seed)
    return LlavaForConditionalGeneration(config)


def save(model, processor, path: Path) -> Path:
    from rdmldg.models.checkpoints import save_checkpoint

    return save_checkpoint(model, processor, path)
