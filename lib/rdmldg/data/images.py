"""Opening any image the way the study needs it: 8-bit RGB, whatever the file holds."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# Files that operating systems and tools drop into folders; never images, never data.
JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", ".directory"})


def is_junk(name: str) -> bool:
    """Hidden files, macOS resource forks and OS thumbnail caches."""
    return name.lower() in JUNK_NAMES or name.startswith(".")


def _scale_to_8bit(arr: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.round(arr.astype(np.float64) * 255.0 / full_scale), 0, 255).astype(np.uint8)


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode: 16-bit and float greys are rescaled, alpha is
    composited on white, palette/CMYK/greyscale are converted."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        grey = _scale_to_8bit(np.asarray(img), 65535.0)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.size else 1.0
        full = 65535.0 if top > 255 else 255.0 if top > 1 else 1.0
        return Image.fromarray(_scale_to_8bit(arr, full), "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img if mode == "RGB" else img.convert("RGB")


class UnreadableImage(ValueError):
    """The bytes are not an image the study can use; the message says why in plain words."""


def decode(data: bytes, max_pixels: int | None = None) -> Image.Image:
    """Fully decode image bytes (a truncated file fails here, not later in training).

    With `max_pixels`, an image larger than that is refused from its header, before any
    pixel is decoded (PIL's own decompression-bomb check only warns below 179 M pixels)."""
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap decides
        try:
            img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise UnreadableImage(f"too large to decode safely ({exc})") from None
        except UnidentifiedImageError:
            raise UnreadableImage("not an image format PIL can read") from None
        if max_pixels is not None and img.width * img.height > max_pixels:
            raise UnreadableImage(f"{img.width}x{img.height} = {img.width * img.height / 1e6:.1f} M pixels, above "
                                  f"data.max_image_pixels ({max_pixels / 1e6:.1f} M); shrink the image, or raise "
                                  "the limit in params/data.yaml")
        img.load()
    return img


def load_image(path: str | Path) -> Image.Image:
    """The RGB image at `path`."""
    return to_rgb(decode(Path(path).read_bytes()))
