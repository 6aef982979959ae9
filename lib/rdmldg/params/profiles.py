"""Profiles: overlays on the schema defaults (params/profiles/NAME.yaml), resolved, validated
and written out as params/*.yaml with each field's description as a comment."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from rdmldg import paths
from rdmldg.params.loading import _plain, _shown, _validate, _yaml
from rdmldg.params.schemas import CONCERNS, ParamsError


def profiles_dir(params_dir: Path | None = None) -> Path:
    return (Path(params_dir) if params_dir else paths.params_dir()) / "profiles"


def available_profiles(params_dir: Path | None = None) -> list[str]:
    return sorted(p.stem for p in profiles_dir(params_dir).glob("*.yaml"))


def _deep_merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _deep_merge(base[key], value)
        else:
            out[key] = value
    return out


def resolve_profile(name: str, params_dir: Path | None = None) -> dict[str, dict]:
    """Schema defaults overlaid with the profile; validated; keyed by concern. `a,b` overlays
    profile b on profile a (e.g. `paper-pacs,dryrun`: the paper's setup, shrunk for a first run)."""
    overlay: dict = {}
    for part in name.split(","):
        path = profiles_dir(params_dir) / f"{part.strip()}.yaml"
        if not path.exists():
            raise ParamsError(f"no profile '{part}' ({_shown(path)}). Available: "
                              f"{', '.join(available_profiles(params_dir))}")
        overlay = _deep_merge(overlay, _plain(_yaml().load(path.read_text())) or {})
    unknown = sorted(set(overlay) - set(CONCERNS))
    if unknown:
        raise ParamsError(f"{_shown(path)}: unknown concerns {unknown}; known: {', '.join(CONCERNS)}")
    resolved = {}
    problems = []
    for concern, schema in CONCERNS.items():
        merged = _deep_merge(schema().model_dump(mode="json"), overlay.get(concern) or {})
        if concern == "study":
            merged["profile"] = name
        doc = CommentedMap({concern: merged})
        model, errs = _validate(doc, concern, _shown(path))
        problems += errs
        if model is not None:
            resolved[concern] = model.model_dump(mode="json")
    if problems:
        raise ParamsError("invalid profile:\n  - " + "\n  - ".join(problems))
    return resolved


def _commented(schema: type[BaseModel], values: Any, indent: int) -> Any:
    """Values as ruamel nodes with each field's description as a comment above it."""
    if isinstance(values, list):
        seq = CommentedSeq(values)
        seq.fa.set_flow_style()
        return seq
    if not isinstance(values, dict):
        return values
    node = CommentedMap()
    for key, value in values.items():
        info = schema.model_fields.get(key) if schema else None
        sub = info.annotation if info and isinstance(info.annotation, type) else None
        sub = sub if sub and issubclass(sub, BaseModel) else None
        node[key] = _commented(sub, value, indent + 2)
        if info and info.description:
            node.yaml_set_comment_before_after_key(key, before=info.description, indent=indent)
    return node


def write_concern(concern: str, values: dict, params_dir: Path | None = None, header: str = "") -> Path:
    folder = Path(params_dir) if params_dir else paths.params_dir()
    doc = CommentedMap({concern: _commented(CONCERNS[concern], values, 2)})
    buf = io.StringIO()
    y = _yaml()
    y.version = None  # no %YAML directive in the file; the reader asks for 1.2 itself
    y.dump(doc, buf)
    path = folder / f"{concern}.yaml"
    path.write_text(header + buf.getvalue())
    return path


def apply_profile(name: str, params_dir: Path | None = None) -> list[Path]:
    resolved = resolve_profile(name, params_dir)
    files = " + ".join(f"params/profiles/{part.strip()}.yaml" for part in name.split(","))
    header = (f"# Written by `python -m rdmldg.params apply {name}` from the schema defaults in\n"
              f"# lib/rdmldg/params/schemas.py and {files}. Edit freely; re-applying\n"
              "# a profile rewrites this file.\n")
    return [write_concern(c, v, params_dir, header) for c, v in resolved.items()]
