"""The DomainBed reader on fixture folders with every bad-input case."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdmldg.data import DatasetError, load_image, read_domainbed


def _png(path: Path, mode="RGB", size=(6, 5), value=120, fmt="PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        img = Image.fromarray(np.full(size[::-1], value, np.uint16))
    elif mode == "RGBA":
        img = Image.new("RGBA", size, (10, 20, 30, value))
    elif mode == "CMYK":
        img = Image.new("CMYK", size, (0, 255, 255, 0))
    else:
        img = Image.new(mode, size, value if mode in ("L", "P") else (value, value, value))
    img.save(path, format=fmt)
    return path


def _tree(root: Path, domains=("d1", "d2"), classes=("cat", "dog"), n=3) -> Path:
    ds = root / "Toy"
    for d in domains:
        for c in classes:
            for i in range(n):
                _png(ds / d / c / f"{i}.png", value=10 * i)
    return ds


def test_order_labels_and_env_index(tmp_path):
    ds = _tree(tmp_path)
    _png(ds / "d1" / "cat" / "sub" / "0.png")  # nested, after the top files as os.walk lists them
    idx = read_domainbed(ds)
    assert idx.domains == ["d1", "d2"] and idx.classes == ["cat", "dog"]
    d1 = idx.images[idx.images.domain == "d1"]
    assert d1["path"].tolist() == ["d1/cat/0.png", "d1/cat/1.png", "d1/cat/2.png", "d1/cat/sub/0.png",
                                   "d1/dog/0.png", "d1/dog/1.png", "d1/dog/2.png"]
    assert d1["env_index"].tolist() == list(range(7))
    assert set(idx.images.loc[idx.images.class_name == "dog", "label"]) == {1}
    assert idx.images.loc[idx.images.domain == "d2", "env"].unique().tolist() == [1]


def test_conversions_to_8bit_rgb(tmp_path):
    ds = _tree(tmp_path, n=1)
    cases = {
        "grey.png": ("L", "PNG"), "rgba.png": ("RGBA", "PNG"), "cmyk.jpg": ("CMYK", "JPEG"),
        "deep.png": ("I;16", "PNG"), "palette.png": ("P", "PNG"), "upper.JPG": ("RGB", "JPEG"),
        "odd.jfif": ("RGB", "JPEG"), "bitmap.bmp": ("RGB", "BMP"), "tiff.tif": ("RGB", "TIFF"),
        "png_named.jpg": ("RGB", "PNG"),
    }
    for name, (mode, fmt) in cases.items():
        _png(ds / "d1" / "cat" / name, mode=mode, fmt=fmt, value=65535 if mode == "I;16" else 0)
    idx = read_domainbed(ds)
    rows = idx.images.set_index("path")
    for name in cases:
        assert rows.loc[f"d1/cat/{name}", "converted"] == (name != "upper.JPG"), name
        img = load_image(ds / "d1" / "cat" / name)
        assert img.mode == "RGB" and np.asarray(img).dtype == np.uint8, name
    assert np.asarray(load_image(ds / "d1/cat/deep.png")).min() == 255       # 16-bit full scale → 255
    assert tuple(np.asarray(load_image(ds / "d1/cat/rgba.png"))[0, 0]) == (255, 255, 255)  # alpha 0 → white
    assert not rows.loc["d1/cat/0.png", "converted"]


def test_junk_files_are_ignored_and_listed(tmp_path):
    ds = _tree(tmp_path)
    for junk in ("d1/cat/.DS_Store", "d1/cat/Thumbs.db", "d2/dog/._0.png", ".DS_Store", "d1/.DS_Store"):
        (ds / junk).write_bytes(b"\x00junk")
    idx = read_domainbed(ds)
    assert len(idx.images) == 12
    assert sorted(idx.ignored) == ["d1/cat/.DS_Store", "d1/cat/Thumbs.db", "d2/dog/._0.png"]


def test_corrupt_images_stop_with_every_path_named(tmp_path):
    ds = _tree(tmp_path)
    (ds / "d1" / "cat" / "broken.jpg").write_bytes(b"not an image at all")
    good = io.BytesIO()
    Image.new("RGB", (40, 40), (1, 2, 3)).save(good, format="PNG")
    (ds / "d2" / "dog" / "truncated.png").write_bytes(good.getvalue()[:60])
    with pytest.raises(DatasetError) as exc:
        read_domainbed(ds)
    msg = str(exc.value)
    assert "d1/cat/broken.jpg" in msg and "d2/dog/truncated.png" in msg
    assert "on_bad_image: skip" in msg


def test_skip_mode_leaves_bad_images_out_and_counts_them(tmp_path):
    ds = _tree(tmp_path)
    (ds / "d1" / "dog" / "broken.png").write_bytes(b"garbage")
    idx = read_domainbed(ds, on_bad_image="skip")
    assert idx.bad["path"].tolist() == ["d1/dog/broken.png"]
    assert len(idx.images) == 12
    assert (idx.images.loc[idx.images.class_name == "dog", "label"] == 1).all()  # labels unchanged


def test_domain_missing_a_class_folder_is_an_error(tmp_path):
    ds = _tree(tmp_path)
    _png(ds / "d1" / "emu" / "0.png")
    with pytest.raises(DatasetError, match=r"domain 'd2' has no class folder 'emu'"):
        read_domainbed(ds)


def test_empty_domain_and_empty_class_are_errors(tmp_path):
    ds = _tree(tmp_path)
    (ds / "d3").mkdir()
    (ds / "d2" / "dog" / "0.png").unlink()
    (ds / "d2" / "dog" / "1.png").unlink()
    (ds / "d2" / "dog" / "2.png").unlink()
    with pytest.raises(DatasetError) as exc:
        read_domainbed(ds)
    assert "empty domain (no class folders)" in str(exc.value) and "d3" in str(exc.value)
    assert "class folder without images" in str(exc.value) and "d2/dog" in str(exc.value)


def test_file_outside_class_folders_is_an_error(tmp_path):
    ds = _tree(tmp_path)
    _png(ds / "d1" / "stray.png")
    with pytest.raises(DatasetError, match="file outside any class folder"):
        read_domainbed(ds)


def test_expected_domain_missing_and_wrong_root(tmp_path):
    ds = _tree(tmp_path)
    with pytest.raises(DatasetError, match="domain folder missing"):
        read_domainbed(ds, expected_domains=["d1", "d2", "d9"])
    with pytest.raises(DatasetError, match="dataset folder not found"):
        read_domainbed(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- links and sizes
def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height: what a decompression bomb looks like to a reader."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("mode", ["error", "skip"])
def test_a_symlink_loop_is_refused_with_its_path(tmp_path, mode):
    ds = _tree(tmp_path)
    (ds / "d1" / "dog" / "again").symlink_to(".")
    with pytest.raises(DatasetError) as exc:
        read_domainbed(ds, on_bad_image=mode)
    msg = str(exc.value)
    assert f"symbolic link loop: {ds / 'd1' / 'dog' / 'again'} -> ." in msg and "remove the link" in msg
    assert msg.count("again") == 1  # named once, not once per depth


def test_a_link_to_a_folder_elsewhere_is_followed(tmp_path):
    ds = _tree(tmp_path)
    _png(tmp_path / "extra" / "x.png")
    (ds / "d1" / "dog" / "more").symlink_to(tmp_path / "extra")
    idx = read_domainbed(ds)
    assert "d1/dog/more/x.png" in idx.images["path"].tolist()


@pytest.mark.parametrize("mode", ["error", "skip"])
def test_one_file_reached_twice_is_refused(tmp_path, mode):
    ds = _tree(tmp_path)
    (ds / "d2" / "dog" / "copy.png").symlink_to(ds / "d2" / "cat" / "0.png")  # one image, two labels
    with pytest.raises(DatasetError, match=r"the same file twice: .*d2/cat/0.png and .*d2/dog/copy.png"):
        read_domainbed(ds, on_bad_image=mode)


def test_an_oversized_image_is_refused_from_its_header(tmp_path):
    ds = _tree(tmp_path)
    _png_header_only(ds / "d1" / "cat" / "huge.png", 12000, 12000)
    with pytest.raises(DatasetError) as exc:
        read_domainbed(ds, max_pixels=50_000_000)
    assert (f"{ds / 'd1' / 'cat' / 'huge.png'} (12000x12000 = 144.0 M pixels, above data.max_image_pixels"
            in str(exc.value))
    assert "raise the limit in params/data.yaml" in str(exc.value)
    skipped = read_domainbed(ds, on_bad_image="skip", max_pixels=50_000_000)
    assert skipped.bad["path"].tolist() == ["d1/cat/huge.png"] and len(skipped.images) == 12


def test_empty_files_and_dangling_links_say_what_is_wrong(tmp_path):
    ds = _tree(tmp_path)
    (ds / "d1" / "cat" / "empty.png").write_bytes(b"")
    (ds / "d2" / "cat" / "gone.png").symlink_to("moved-away.png")
    (ds / "d2" / "dog" / "text.png").write_bytes(b"just some text")
    with pytest.raises(DatasetError) as exc:
        read_domainbed(ds)
    msg = str(exc.value)
    assert f"{ds / 'd1' / 'cat' / 'empty.png'} (empty file (0 bytes))" in msg
    assert f"{ds / 'd2' / 'cat' / 'gone.png'} (link target missing (the link points to moved-away.png))" in msg
    assert f"{ds / 'd2' / 'dog' / 'text.png'} (not an image format PIL can read)" in msg
    assert "BytesIO" not in msg
