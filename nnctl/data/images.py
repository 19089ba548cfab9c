"""Pictures in: any image Pillow reads, made into exactly the pixels a model was trained on.

One function, `load_image`, serves `predict` and `data import`, so both see the same pixels:
upright (EXIF orientation), RGB (alpha composited on white, grayscale expanded, 16-bit scaled
down rather than clipped, CMYK and palettes converted), resized to the model's input size.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.data.dataset import regular_file
from nnctl.errors import DataError
from PIL import Image, UnidentifiedImageError
from PIL import ImageOps

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}
MAX_PIXELS = 120_000_000  # larger images are refused as possible decompression bombs (--max-pixels raises it)


class ImageError(DataError):
    """One image could not be read; the message names the file and why."""


@dataclass
class LoadedImage:
    pixels: np.ndarray  # (H, W, 3) or (H, W) uint8
    notes: list = field(default_factory=list)


def shown(path) -> str:
    """A path as messages carry it: bytes that are not UTF-8 stay os.fsdecode's surrogates, which
    nnctl.util.text.visible() (every line, cell and CSV field nnctl prints) shows as \\xNN, and JSON
    output as \\udcNN; a literal backslash in the name is then never mistaken for one."""
    return str(path)


def stored(path) -> str:
    """A path as text to store in a file (UTF-8 only): bytes that are not UTF-8 written as \\xNN."""
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0].strip() if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _open(path: Path, max_pixels: int):
    """The picture, decoded; an ImageError for anything Pillow cannot or should not decode."""
    name = shown(path)
    st = regular_file(
        path,
        ImageError,
        name=name,
        missing="{name}: no such file",
        unreadable="{name}: cannot be read ({reason})",
        directory="{name}: is a directory",
        other="{name}: is {kind}, not a regular file",
    )
    if st.st_size == 0:
        raise ImageError(f"{name}: empty file, not an image")
    try:
        with warnings.catch_warnings():
            # one limit, ours: Pillow's own bomb check (a warning, then an error at twice its limit) is off
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                img = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(
                    f"{name}: {w}×{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                    f"(a guard against decompression bombs); if you trust the file, raise it with --max-pixels {w * h}"
                )
            img.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image Pillow can read") from None
    except MemoryError:
        raise ImageError(f"{name}: too large to decode in the memory available") from None
    except OSError:
        raise ImageError(f"{name}: damaged or truncated image; take the original file again") from None
    except Exception as exc:  # noqa: BLE001 - a decoder fed a damaged file raises ValueError, SyntaxError, struct.error, ...
        raise ImageError(f"{name}: damaged image ({_reason(exc)}); take the original file again") from None
    return img


def _to_mode(img, mode: str, notes: list):
    """RGB or L, with alpha on white and 16-bit values scaled, not clipped."""
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


def load_image(path, size: tuple[int, int] | None, mode: str = "RGB", max_pixels: int | None = None) -> LoadedImage:
    """Read `path` as uint8 pixels of shape (H, W, 3) for RGB or (H, W) for L.

    `size` is (H, W); None keeps the image's own size. Pictures over `max_pixels` (default
    MAX_PIXELS) are refused before they are decoded. Whatever Pillow raises on a damaged file
    becomes an ImageError naming the file: one bad picture never stops a batch.
    """
    path = Path(path)
    img = _open(path, MAX_PIXELS if max_pixels is None else max_pixels)
    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF; the picture is still read
            try:
                orientation = img.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - damaged EXIF: the pixels are fine, the orientation unknown
                orientation = 1
                notes.append("EXIF unreadable, orientation kept")
            if orientation in (2, 3, 4, 5, 6, 7, 8):
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
            pixels = np.asarray(img, dtype=np.uint8)
    except MemoryError:
        raise ImageError(f"{shown(path)}: too large to decode in the memory available") from None
    except Exception as exc:  # noqa: BLE001 - the decoder may fail late (lazy tiles, EXIF, palette)
        raise ImageError(f"{shown(path)}: damaged image ({_reason(exc)}); take the original file again") from None
    return LoadedImage(pixels=pixels, notes=notes)


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
