"""Randomly initialised checkpoints of the real architectures, built from configs offline.

Used to prove the real-checkpoint code path (load, LoRA, train, generate) without any
download: tiny sizes in the tests, real sizes (InternVL3-2B, Qwen2-VL-2B shapes) for GPU
benchmarks. Each returns (model, processor) ready for `save_checkpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdmldg.models.embedded import LlavaSpec, build_model, build_processor, chat_template, train_tokenizer

DEFAULT_TEXTS = ["What type of object is in this photo? Choose from the following options: ball, star, ring.",
                 "<SUMMARY>Name the shape.</SUMMARY><CONCLUSION>ball</CONCLUSION> Answer Choice: star"] * 8


@dataclass(frozen=True)
class Sizes(LlavaSpec):
    """The embedded model's size knobs, plus the vocabulary and the decoder's MLP width."""

    text_intermediate: int | None = None
    vocab_size: int = 320
    model_vocab: int | None = None  # the decoder's vocabulary, when larger than the tokenizer's (real sizes)


def _qwen2_text(s: Sizes, vocab: int, tok) -> dict:
    return dict(vocab_size=max(vocab, s.model_vocab or 0), hidden_size=s.text_hidden,
                intermediate_size=s.text_intermediate or 4 * s.text_hidden,
                num_hidden_layers=s.text_layers, num_attention_heads=s.text_heads,
                num_key_value_heads=s.text_kv_heads, max_position_embeddings=4096,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None)


def llava(s: Sizes = Sizes(), texts=DEFAULT_TEXTS, seed: int = 0):
    tok = train_tokenizer(texts, s.vocab_size)
    return build_model(s, tok, seed), build_processor(tok, s)


def internvl(s: Sizes = Sizes(), texts=DEFAULT_TEXTS, seed: int = 0, max_tiles: int = 1):
    """InternVL (transformers-native InternViT + Qwen2 decoder, pixel-shuffle projector).
    `max_tiles` > 1 tiles each image by its aspect ratio (plus a thumbnail), as InternVL's
    dynamic resolution does: images of different shapes then carry different tile counts."""
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor, InternVLVisionConfig
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from rdmldg.models.checkpoints import image_only

    special = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
               "video_token": "<video>"}
    tok = train_tokenizer(texts, s.vocab_size, special, chat_template("<IMG_CONTEXT>"))
    vision = InternVLVisionConfig(hidden_size=s.vision_hidden, intermediate_size=4 * s.vision_hidden,
                                  num_hidden_layers=s.vision_layers, num_attention_heads=s.vision_heads,
                                  image_size=[s.image_size] * 2, patch_size=[s.patch_size] * 2)
    config = InternVLConfig(vision_config=vision, text_config=_qwen2_text(s, len(tok), tok), downsample_ratio=0.5,
                            image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), vision_feature_layer=-1)
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config)
    images = GotOcr2ImageProcessorPil(size={"height": s.image_size, "width": s.image_size},
                                      crop_to_patches=max_tiles > 1, min_patches=1, max_patches=max_tiles)
    seq = (s.image_size // s.patch_size) ** 2 // 4  # pixel shuffle with downsample_ratio 0.5
    return model, image_only(InternVLProcessor)(image_processor=images, tokenizer=tok, video_processor=None,
                                                image_seq_length=seq, chat_template=tok.chat_template)


def qwen2_vl(s: Sizes = Sizes(), texts=DEFAULT_TEXTS, seed: int = 0):
    """Qwen2-VL (its ViT with 2×2 patch merging, M-RoPE decoder)."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from rdmldg.models.checkpoints import image_only

    special = {"vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>",
               "image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
    tok = train_tokenizer(texts, s.vocab_size, special, chat_template("<|vision_start|><|image_pad|><|vision_end|>"))
    head_dim = s.text_hidden // s.text_heads
    section = [head_dim // 8, head_dim // 8 * 3 // 2, head_dim // 2 - head_dim // 8 - head_dim // 8 * 3 // 2]
    text = _qwen2_text(s, len(tok), tok) | {"rope_scaling": {"type": "mrope", "mrope_section": section}}
    vision = dict(depth=s.vision_layers, embed_dim=s.vision_hidden, hidden_size=s.text_hidden,
                  num_heads=s.vision_heads, patch_size=s.patch_size, spatial_merge_size=2, temporal_patch_size=2)
    config = Qwen2VLConfig(text_config=text, vision_config=vision,
                           image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
                           video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
                           vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
                           vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"))
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    px = s.image_size * s.image_size
    images = Qwen2VLImageProcessorPil(min_pixels=px, max_pixels=px, patch_size=s.patch_size, merge_size=2,
                                      temporal_patch_size=2)
    return model, image_only(Qwen2VLProcessor)(image_processor=images, tokenizer=tok, video_processor=None,
                                               chat_template=tok.chat_template)


BUILDERS = {"llava": llava, "internvl": internvl, "qwen2_vl": qwen2_vl}
