"""Real checkpoints by local path: load, save, identify.

Everything goes through transformers' Auto classes. One CPU-only gap is bridged here:
without torchvision, transformers cannot build the *video* processors that the InternVL and
Qwen2-VL processors carry, so `AutoProcessor` fails for them. For image-only work (all of
this study) the same processor class is built without its video slot from the checkpoint's
image processor, tokenizer and chat template (`image_only`). With torchvision installed
(GPU machines) `AutoProcessor` is used as is.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from transformers.utils import logging as hf_logging

from rdmldg.fingerprints import folder_digest
from rdmldg.io import ordinary_modes
from rdmldg.models import convstem  # noqa: F401  (registers the embedded model's tower with the Auto classes)

hf_logging.disable_progress_bar()  # a bar per weight load floods the reports; loading is instant here

IMAGE_ONLY_FALLBACK = ("InternVLProcessor", "Qwen2VLProcessor", "Qwen2_5_VLProcessor")


class CheckpointError(FileNotFoundError):
    pass


def image_only(base: type) -> type:
    """`base` (a multimodal processor class) that accepts an empty video slot."""
    class ImageOnly(base):
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    ImageOnly.__name__ = ImageOnly.__qualname__ = base.__name__
    return ImageOnly


def _image_only_processor(path: Path, trust_remote_code: bool):
    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer

    config = json.loads((path / "processor_config.json").read_text())
    base = getattr(transformers, config["processor_class"])
    accepted = set(inspect.signature(base.__init__).parameters)
    kwargs = {k: v for k, v in config.items() if k in accepted and k not in ("image_processor", "tokenizer")}
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    template = (path / "chat_template.jinja").read_text() if (path / "chat_template.jinja").exists() else \
        tokenizer.chat_template
    return image_only(base)(image_processor=AutoImageProcessor.from_pretrained(path), tokenizer=tokenizer,
                            video_processor=None, chat_template=template, **kwargs)


def _processor_class(path: Path) -> str:
    cfg = path / "processor_config.json"
    return json.loads(cfg.read_text()).get("processor_class", "") if cfg.exists() else ""


def load_processor(path: Path, trust_remote_code: bool = False):
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (AttributeError, ImportError, ValueError, OSError):
        if _processor_class(path) not in IMAGE_ONLY_FALLBACK:
            raise
        return _image_only_processor(path, trust_remote_code)  # no torchvision: no video processor


def resolve(path: str | Path, root: Path | None = None, key: str = "model.checkpoint") -> Path:
    path = Path(path).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if not (path / "config.json").exists():
        raise CheckpointError(f"no checkpoint at {path} ({key}): expected a folder written by save_pretrained "
                              f"with config.json. Fix: set {key} to a local checkpoint folder; nothing is downloaded")
    return path


def load(path: str | Path, trust_remote_code: bool = False, dtype: str = "auto", root: Path | None = None):
    """(model, processor) from a local checkpoint folder, offline."""
    import torch
    from transformers import AutoModelForImageTextToText

    from rdmldg import numerics

    numerics.configure_torch()

    path = resolve(path, root)
    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() else "float32"
    model = AutoModelForImageTextToText.from_pretrained(path, trust_remote_code=trust_remote_code,
                                                        dtype=getattr(torch, dtype))
    return model, load_processor(path, trust_remote_code)


def save_checkpoint(model, processor, path: Path) -> Path:
    """Model (safetensors) + processor; an image-only processor is saved part by part."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(path)
    if getattr(processor, "video_processor", "absent") is None:
        processor.image_processor.save_pretrained(path)
        processor.tokenizer.save_pretrained(path)
        (path / "chat_template.jinja").write_text(processor.chat_template)
        extra = {k: getattr(processor, k) for k in ("image_seq_length",) if hasattr(processor, k)}
        (path / "processor_config.json").write_text(
            json.dumps({"processor_class": type(processor).__name__, **extra}, indent=2) + "\n")
    else:
        processor.save_pretrained(path)
    ordinary_modes(path)
    return path


def record(path: Path) -> dict:
    """What a real-profile stage records instead of copying weights."""
    path = Path(path).resolve()
    config = json.loads((path / "config.json").read_text())
    return {"path": str(path), "model_type": config.get("model_type"), "architectures": config.get("architectures"),
            "config": config, "content_sha256": folder_digest(path)}
