"""Pictures in: every odd image mode made into the RGB pixels a model was trained on."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnctl.data import images
from nnctl.data.images import ImageError, find_images, image_geometry, load_image


def _save(tmp_path, img, name, **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


def test_rgb_resized_with_note(tmp_path):
    path = _save(tmp_path, Image.new("RGB", (40, 30), (10, 20, 30)), "a.png")
    img = load_image(path, (8, 8))
    assert img.pixels.shape == (8, 8, 3) and img.pixels.dtype == np.uint8
    assert (img.pixels == [10, 20, 30]).all()
    assert img.notes == ["40×30→8×8, aspect changed"]


def test_same_aspect_says_no_aspect_change(tmp_path):
    path = _save(tmp_path, Image.new("RGB", (32, 32), (0, 0, 0)), "a.png")
    assert load_image(path, (8, 8)).notes == ["32×32→8×8"]
    assert load_image(path, (32, 32)).notes == []


def test_alpha_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[:2] = [255, 0, 0, 255]  # opaque red on top
    rgba[2:] = [0, 0, 255, 0]  # transparent blue below: becomes white
    path = _save(tmp_path, Image.fromarray(rgba, "RGBA"), "a.png")
    img = load_image(path, None)
    assert (img.pixels[:2] == [255, 0, 0]).all() and (img.pixels[2:] == [255, 255, 255]).all()
    assert img.notes == ["RGBA→RGB on white"]


def test_half_transparent_blends(tmp_path):
    path = _save(tmp_path, Image.new("LA", (2, 2), (0, 128)), "a.png")
    img = load_image(path, None)
    assert abs(int(img.pixels[0, 0, 0]) - 127) <= 1 and img.notes == ["LA→RGB on white"]


def test_grayscale_expanded(tmp_path):
    path = _save(tmp_path, Image.new("L", (3, 3), 77), "a.png")
    img = load_image(path, None)
    assert img.pixels.shape == (3, 3, 3) and (img.pixels == 77).all() and img.notes == ["L→RGB"]


def test_palette_and_palette_with_transparency(tmp_path):
    p = Image.new("P", (2, 2), 1)
    p.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    assert (load_image(_save(tmp_path, p, "p.png"), None).pixels == [200, 100, 50]).all()
    path = _save(tmp_path, p, "pt.png", transparency=1)
    img = load_image(path, None)
    assert (img.pixels == 255).all() and img.notes == ["P→RGB on white"]


def test_16_bit_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    path = _save(tmp_path, Image.fromarray(arr), "a.png")
    img = load_image(path, None)
    # 65535 -> 255, 32768 -> 128 (a clip would give 255), 1000 -> 4
    assert img.pixels[..., 0].tolist() == [[0, 128], [255, 4]]
    assert any("16-bit→8-bit" in n for n in img.notes)


def test_cmyk(tmp_path):
    path = _save(tmp_path, Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "a.jpg", quality=100)
    img = load_image(path, None)
    r, g, b = img.pixels[0, 0].astype(int)
    assert r > 200 and g < 60 and b < 60 and img.notes == ["CMYK→RGB"]


def test_exif_rotated_phone_photo(tmp_path):
    arr = np.zeros((20, 40, 3), dtype=np.uint8)  # stored landscape, left half red
    arr[:, :20] = [255, 0, 0]
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = _save(tmp_path, Image.fromarray(arr), "phone.jpg", exif=exif.tobytes(), quality=100)
    img = load_image(path, None)
    assert img.pixels.shape == (40, 20, 3)  # upright: portrait
    assert img.pixels[5, 10, 0] > 200 and img.pixels[35, 10, 0] < 60  # red on top after rotation
    assert img.notes == ["EXIF orientation 6 made upright"]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty file, not an image"),
        (b"hello, not a picture", "not an image Pillow can read"),
    ],
)
def test_unreadable(tmp_path, content, message):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        load_image(path, (4, 4))
    assert str(info.value) == f"{path}: {message}"


def test_truncated(tmp_path):
    good = _save(tmp_path, Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "g.jpg")
    bad = tmp_path / "t.jpg"
    bad.write_bytes(good.read_bytes()[:400])
    with pytest.raises(ImageError, match=r"t.jpg: damaged or truncated image; take the original file again$"):
        load_image(bad, (4, 4))


def test_decompression_bombs(tmp_path, monkeypatch):
    path = _save(tmp_path, Image.new("1", (100, 100)), "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    expected = (
        f"{path}: 100×100 = 10,000 pixels is over the limit of 1,000 (a guard against decompression bombs); "
        "if you trust the file, raise it with --max-pixels 10000"
    )
    with pytest.raises(ImageError) as info:
        load_image(path, (4, 4))
    assert str(info.value) == expected
    assert load_image(path, (4, 4), max_pixels=10_000).pixels.shape == (4, 4, 3)  # the option raises the limit
    # one limit: Pillow's own guard (a warning past its limit, an error past twice that) never speaks
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert load_image(path, (4, 4)).pixels.shape == (4, 4, 3)
    with pytest.raises(ImageError) as info:
        load_image(path, (4, 4), max_pixels=1000)
    assert str(info.value) == expected


def test_missing_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png", None)
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path, None)


def test_geometry_and_walk(tmp_path):
    assert image_geometry([64, 64, 3]) == ((64, 64), "RGB")
    assert image_geometry([28, 28]) == ((28, 28), "L")
    assert image_geometry([2]) is None
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.JPG", "sub/c.jpeg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_images([tmp_path])] == ["a.JPG", "b.png", "c.jpeg"]
