"""Pictures in: any image Pillow reads, made into exactly the pixels a model was trained on.

One function, `load_image`, serves `predict` and `data import`, so both see the same pixels:
upright (EXIF orientation), RGB (alpha composited on white, grayscale expanded, 16-bit scaled
down rather than clipped, CMYK and palettes converted), resized to the model's input size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}
MAX_PIXELS = 64_000_000  # larger images are refused as possible decompression bombs


class ImageError(DataError):
    """One image could not be read; the message names the file and why."""


@dataclass
class LoadedImage:
    pixels: np.ndarray  # (H, W, 3) or (H, W) uint8
    notes: list = field(default_factory=list)


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{path}: {w}×{h} is over {MAX_PIXELS:,} pixels, refused as a possible decompression bomb")
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: refused as a possible decompression bomb (too many pixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except OSError:
        raise ImageError(f"{path}: damaged or truncated image; take the original file again") from None
    return img


def _to_mode(img, mode: str, notes: list):
    """RGB or L, with alpha on white and 16-bit values scaled, not clipped."""
    from PIL import Image

    src = img.mode
    if src == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode != "I" or arr.max() > 255 else 255.0
        img = Image.fromarray(np.rint(np.clip(arr, 0, peak) * (255.0 / peak)).astype(np.uint8), "L")
        notes.append(f"{src} 16-bit→8-bit")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.rint(np.clip(arr, 0, 255)).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
        notes.append(f"{src}→RGB on white")
    if img.mode != mode:
        if not notes or not notes[-1].endswith("on white"):
            notes.append(f"{src}→{mode}" if src != "P" else f"palette→{mode}")
        img = img.convert(mode)
    return img


def load_image(path, size: tuple[int, int] | None, mode: str = "RGB") -> LoadedImage:
    """Read `path` as uint8 pixels of shape (H, W, 3) for RGB or (H, W) for L.

    `size` is (H, W); None keeps the image's own size.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    img = _open(path)
    notes = []
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img)
        notes.append(f"EXIF orientation {orientation} made upright")
    img = _to_mode(img, mode, notes)
    if size is not None:
        h, w = size
        if img.size != (w, h):
            old_w, old_h = img.size
            aspect = "" if abs(old_w / old_h - w / h) < 0.01 else ", aspect changed"
            notes.append(f"{old_w}×{old_h}→{w}×{h}{aspect}")
            img = img.resize((w, h), Image.Resampling.LANCZOS)
    return LoadedImage(pixels=np.asarray(img, dtype=np.uint8), notes=notes)


def image_geometry(input_shape) -> tuple[tuple[int, int], str] | None:
    """((H, W), mode) where a model's recorded input shape is a picture, else None."""
    shape = list(input_shape)
    if len(shape) == 3 and shape[2] == 3:
        return (shape[0], shape[1]), "RGB"
    if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
        return (shape[0], shape[1]), "L"
    return None


def find_images(paths) -> list[Path]:
    """Files as given, and folders walked (sorted) for files with an image suffix."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(p)
    return found
