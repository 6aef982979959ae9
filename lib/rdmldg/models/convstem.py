"""A SigLIP vision tower with a convolutional stem, registered with transformers' Auto classes.

A ViT this small, trained from scratch on tens of thousands of images, does not learn shape:
its patch embedding is one linear map of an 8×8 pixel block, and nothing in it knows that
neighbouring pixels belong together (on the default world a 64-wide SigLIP tower's linear
probe stays at 50–70 %, a small convolutional network reaches 90 %+; README design notes).
So the embedded model's tower keeps SigLIP's encoder, position embeddings and output, and
replaces the single patchifying convolution by a stem of stride-2 3×3 convolutions — what
hybrid towers such as FastVLM's and ConvLLaVA's do at scale. The stem's output grid has one
cell per `patch_size`² pixel block, so the tower hands the language model as many tokens
as a SigLIP tower of that patch size would.

Importing this module registers the config and model with `AutoConfig` / `AutoModel`, which
is all `LlavaForConditionalGeneration` and `from_pretrained` need: the code lives in this
package, so no `trust_remote_code` is involved.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import pairwise

from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, AutoModel, SiglipVisionConfig, SiglipVisionModel
from transformers.models.siglip.modeling_siglip import SiglipVisionEmbeddings

MODEL_TYPE = "rdmldg_convstem_vision"


@strict
class ConvStemVisionConfig(SiglipVisionConfig):
    """SigLIP's vision config plus the stem's channel widths. Each stem convolution halves
    the image and the final `patch_embedding` convolution halves it once more, so
    `patch_size` must be 2 ** (len(stem_channels) + 1)."""

    model_type = MODEL_TYPE
    image_size: int | list[int] | tuple[int, int] = 32
    patch_size: int | list[int] | tuple[int, int] = 8
    stem_channels: list[int] | tuple[int, ...] = (32, 64)
    vision_use_head: bool = False  # the language model reads the tokens; no pooling head

    def validate_architecture(self):
        super().validate_architecture()
        stride = 2 ** (len(self.stem_channels) + 1)
        if self.patch_size != stride:
            raise ValueError(f"patch_size {self.patch_size} does not match a stem of {len(self.stem_channels)} "
                             f"stride-2 convolutions plus the patch embedding (stride {stride})")


class ConvStemEmbeddings(SiglipVisionEmbeddings):
    """Stride-2 3×3 convolutions, each but the last followed by a one-group GroupNorm and
    GELU, the last one into the hidden size; then SigLIP's learnt position embeddings. The
    stem takes the place of SigLIP's `patch_embedding`."""

    def __init__(self, config: ConvStemVisionConfig):
        super().__init__(config)
        del self.patch_embedding
        widths = [config.num_channels, *config.stem_channels, config.hidden_size]
        blocks = []
        for k, (c_in, c_out) in enumerate(pairwise(widths)):
            parts = OrderedDict(conv=nn.Conv2d(c_in, c_out, 3, stride=2, padding=1))
            if k < len(widths) - 2:
                parts.update(norm=nn.GroupNorm(1, c_out), act=nn.GELU())
            blocks.append(nn.Sequential(parts))
        self.stem = nn.Sequential(*blocks)

    def forward(self, pixel_values, interpolate_pos_encoding=False):
        if interpolate_pos_encoding:
            raise NotImplementedError("the conv-stem tower reads images at its own size only")
        grid = self.stem(pixel_values.to(dtype=self.stem[0].conv.weight.dtype))
        return grid.flatten(2).transpose(1, 2) + self.position_embedding(self.position_ids)


class ConvStemVisionModel(SiglipVisionModel):
    config: ConvStemVisionConfig
    config_class = ConvStemVisionConfig

    def __init__(self, config: ConvStemVisionConfig):
        super().__init__(config)
        self.embeddings = ConvStemEmbeddings(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.stem


AutoConfig.register(MODEL_TYPE, ConvStemVisionConfig, exist_ok=True)
AutoModel.register(ConvStemVisionConfig, ConvStemVisionModel, exist_ok=True)
