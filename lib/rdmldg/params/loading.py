"""Reading params/*.yaml: YAML 1.2, strict validation, and errors that name the file, the
line, the key and the fix; every problem at once."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from rdmldg import paths
from rdmldg.params.schemas import CONCERNS, SECRET_FIELDS, Params, ParamsError


def _yaml() -> YAML:
    y = YAML(typ="rt")  # round-trip loader: YAML 1.2 and line numbers for messages
    y.version = (1, 2)
    return y


def _plain(node: Any) -> Any:
    """ruamel's scalar subclasses → plain Python, so strict validation sees real types."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _line_of(doc: Any, loc: tuple) -> int | None:
    """1-based line of the deepest key of `loc` present in the round-trip document."""
    line, node = None, doc
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
        else:
            break
        node = node[part]
    return line


def _field_info(schema: type[BaseModel], loc: tuple):
    """The pydantic FieldInfo at `loc` (skipping list indices), or None."""
    model, info = schema, None
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        ann = info.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return info


def _fix_hint(schema: type[BaseModel], concern: str, loc: tuple, err: dict) -> str:
    key = ".".join(str(p) for p in (concern, *loc))
    if err["type"] == "extra_forbidden":
        parent = _field_info(schema, loc[:-1]) if len(loc) > 1 else None
        model = parent.annotation if parent else schema
        known = sorted(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{hint}remove or rename it; keys allowed here: {', '.join(known)}"
    info = _field_info(schema, loc)
    if info is None:
        return f"correct {key}"
    default = info.get_default(call_default_factory=True)
    what = f" ({info.description})" if info.description else ""
    return f"set {key} to a valid value{what}; default: {default!r}"


def _format_error(file: str, doc: Any, concern: str, schema, err: dict) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in (concern, *loc)) if loc else concern
    line = _line_of(doc.get(concern), loc) if isinstance(doc, CommentedMap) else None
    where = f"{file}:{line}" if line else file
    got = f" (got {err['input']!r})" if loc and err["type"] != "missing" else ""
    if loc and loc[-1] in SECRET_FIELDS:
        got = " (value hidden: it may be a secret)"
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return f"{where}: {key}{got}: {msg}. Fix: {_fix_hint(schema, concern, loc, err)}"


def _read_concern(path: Path, concern: str, shown: str) -> tuple[Any, list[str]]:
    """Parse one params file; return (document, problems)."""
    if not path.exists():
        return None, [f"{shown}: missing. Fix: run `python -m rdmldg.params apply default` to write it"]
    try:
        doc = _yaml().load(path.read_text())
    except YAMLError as exc:
        return None, [f"{shown}: not valid YAML: {exc}. Fix: correct the syntax at the position shown"]
    if not isinstance(doc, dict) or list(doc) != [concern]:
        top = list(doc) if isinstance(doc, dict) else type(doc).__name__
        return None, [f"{shown}: top level is {top}; expected the single key '{concern}'. "
                      f"Fix: put every setting of this file under '{concern}:'"]
    return doc, []


def _validate(doc: Any, concern: str, shown: str) -> tuple[BaseModel | None, list[str]]:
    schema = CONCERNS[concern]
    body = _plain(doc[concern])
    try:
        return schema.model_validate(body if body is not None else {}), []
    except ValidationError as exc:
        return None, [_format_error(shown, doc, concern, schema, e) for e in exc.errors()]


def _cross_check(p: dict[str, BaseModel], shown: dict[str, str]) -> list[str]:
    data, study = p["data"], p["study"]
    domains = data.domain_names()
    problems = []
    if study.heldout_domains != "all":
        for d in study.heldout_domains:
            if d not in domains:
                close = difflib.get_close_matches(d, domains, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                problems.append(
                    f"{shown['study']}: study.heldout_domains: '{d}' is not a domain of "
                    f"{data.dataset_name()} (domains: {', '.join(domains)}). Fix: {hint}"
                    "use one of those domains, or 'all'"
                )
    chains = p.get("chains")
    if chains is not None and data.source == "domainbed" and chains.teacher == "attribute":
        problems.append(
            f"{shown['chains']}: chains.teacher: 'attribute' writes chains from the generating attributes of the "
            f"synthetic world, which {data.dataset_name()} images do not have. Fix: set chains.teacher to openai "
            "(an OpenAI-compatible endpoint: vLLM serving a local MLLM, or GPT-4o as the paper) or hf (a local "
            "checkpoint, chains.hf.checkpoint)"
        )
    return problems


def load(params_dir: Path | None = None) -> Params:
    """Load and validate every concern; raise ParamsError listing all problems at once."""
    folder = Path(params_dir) if params_dir else paths.params_dir()
    problems: list[str] = _unknown_files(folder)
    parsed: dict[str, BaseModel] = {}
    shown: dict[str, str] = {}
    for concern in CONCERNS:
        path = folder / f"{concern}.yaml"
        shown[concern] = _shown(path)
        doc, errs = _read_concern(path, concern, shown[concern])
        if doc is not None:
            model, errs = _validate(doc, concern, shown[concern])
            if model is not None:
                parsed[concern] = model
        problems += errs
    if not problems:
        problems = _cross_check(parsed, shown)
    if problems:
        raise ParamsError("invalid parameters:\n  - " + "\n  - ".join(problems))
    return Params(**parsed)


def _unknown_files(folder: Path) -> list[str]:
    return [
        f"{_shown(f)}: not a params concern (known: {', '.join(CONCERNS)}). "
        "Fix: move it out of params/ or into params/profiles/ if it is an overlay"
        for f in sorted(folder.glob("*.y*ml")) if f.stem not in CONCERNS
    ]


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to cwd when possible."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
