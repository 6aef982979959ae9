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
