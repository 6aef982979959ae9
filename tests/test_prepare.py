"""The prepare stage's library path: manifests, splits, determinism, the shift check."""

from __future__ import annotations

from rdmldg.data import read_prepared, split_column, split_indices
from rdmldg.data.prepare import prepare
from rdmldg.data.shift import shift_check
from rdmldg.params import DataParams, SyntheticParams


def _params(**kw) -> DataParams:
    return DataParams(synthetic=SyntheticParams(images_per_class=5, image_size=24), trial_seeds=[0, 1], **kw)


def test_same_params_give_a_byte_identical_manifest(tmp_path):
    for name in ("a", "b"):
        prepare(_params(), tmp_path / name / "data" / "prepared", tmp_path / name)
    a = (tmp_path / "a/data/prepared/manifest.csv").read_bytes()
    assert a == (tmp_path / "b/data/prepared/manifest.csv").read_bytes()
    assert (tmp_path / "a/data/prepared/dataset.json").read_bytes() == \
        (tmp_path / "b/data/prepared/dataset.json").read_bytes()


def test_manifest_splits_follow_the_protocol(tmp_path):
    manifest, info, _ = prepare(_params(), tmp_path / "prep", tmp_path)
    assert info["root"] == "prep/images/SyntheticWorld"
    for seed in (0, 1):
        for env, part in manifest.groupby("env"):
            out, _ = split_indices(len(part), seed, int(env), 0.2)
            got = sorted(part.loc[part[split_column(seed)] == "out", "env_index"])
            assert got == sorted(out)
    reread, _ = read_prepared(tmp_path / "prep")
    assert reread["path"].tolist() == manifest["path"].tolist()
    assert {"attr_colour", "attr_rotation", "sha1"} <= set(reread.columns)


def test_digits_source_goes_through_the_same_reader(tmp_path):
    manifest, info, _ = prepare(DataParams(source="digits"), tmp_path / "prep", tmp_path)
    assert info["domains"] == ["rot_000", "rot_015", "rot_030", "rot_045", "rot_060", "rot_075"]
    assert info["converted"] == {"L": 1797}  # greyscale files, converted to RGB on load
    assert len(manifest) == 1797


def test_domainbed_source_reads_a_local_root(tmp_path):
    from PIL import Image

    for d in ("art_painting", "cartoon", "photo", "sketch"):
        for c in ("dog", "horse"):
            (tmp_path / "db" / "PACS" / d / c).mkdir(parents=True)
            Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp_path / "db" / "PACS" / d / c / "x.jpg")
    p = DataParams(source="domainbed", domainbed={"root": str(tmp_path / "db"), "dataset": "PACS"})
    manifest, info, _ = prepare(p, tmp_path / "prep", tmp_path)
    assert info["classes"] == ["dog", "horse"] and len(manifest) == 8


def test_shift_check_shows_a_drop_on_the_default_world(tmp_path):
    p = DataParams(synthetic=SyntheticParams(images_per_class=20, image_size=32))
    manifest, info, _ = prepare(p, tmp_path / "prep", tmp_path)
    table = shift_check(manifest, tmp_path / info["root"], ["sketch"], "split_t0")
    assert table.loc["sketch", "in_domain_acc"] > table.loc["sketch", "heldout_acc"] + 0.15


def test_chain_sources_cover_every_trial_seeds_training_split(tmp_path):
    from rdmldg import chain_dataset

    manifest, info, _ = prepare(_params(), tmp_path / "prep", tmp_path)
    one = chain_dataset.source_items(manifest, tmp_path, info["domains"], ["in"], ["split_t0"])
    both = chain_dataset.source_items(manifest, tmp_path, info["domains"], ["in"], ["split_t0", "split_t1"])
    in_any = ((manifest["split_t0"] == "in") | (manifest["split_t1"] == "in")).sum()
    assert len(one) == (manifest["split_t0"] == "in").sum() < len(both) == in_any
