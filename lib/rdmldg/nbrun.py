"""Run one stage notebook: jupytext .py → papermill → executed .ipynb → HTML, always.

    python -m rdmldg.nbrun notebooks/01_prepare.py [key=value ...]

The key=value pairs are the run's coordinates (held-out domain, method, seed); they become
papermill parameters and name the outputs:

    reports/<stage>.html                      (no coordinates)
    reports/<stage>/<k1>-<v1>_<k2>-<v2>.html  (with coordinates)
    reports/executed/...ipynb                 the executed notebook beside it

Parameters are validated before a kernel starts, so a bad params file fails in a second.
The HTML is rendered also when a cell failed, so the traceback reads in the report; the
exit status is papermill's (0 ok, 1 a cell failed, 2 bad arguments or params).
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import re
import sys
import time
from pathlib import Path

from rdmldg import paths

KERNEL_NAME = "rdmldg"
log = logging.getLogger("rdmldg.nbrun")


def stage_name(notebook: Path) -> str:
    """`notebooks/05_train.py` → `train` (the numeric prefix orders files, not stages)."""
    return re.sub(r"^\d+_", "", Path(notebook).stem)


def parse_coordinates(pairs: list[str]) -> dict[str, object]:
    coords: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"coordinate {pair!r} is not key=value with a Python identifier as key")
        try:
            coords[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            coords[key] = raw
    return coords


def output_paths(notebook: Path, coords: dict, reports: Path) -> tuple[Path, Path]:
    """(html, executed ipynb) for a notebook run at these coordinates."""
    stage = stage_name(notebook)
    if coords:
        tag = "_".join(f"{k}-{v}" for k, v in coords.items())
        rel = Path(stage) / tag
    else:
        rel = Path(stage)
    return reports / f"{rel}.html", reports / "executed" / f"{rel}.ipynb"


def ensure_kernel() -> str:
    """A kernelspec named `rdmldg` that runs this interpreter (installed into sys.prefix)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="RD-MLDG (.venv)", prefix=sys.prefix)
    log.info("registered kernel %s for %s", KERNEL_NAME, sys.executable)
    return KERNEL_NAME


def to_notebook(py_file: Path):
    import jupytext

    nb = jupytext.read(py_file)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "RD-MLDG (.venv)", "language": "python"}
    return nb


def render_html(ipynb: Path, html: Path, title: str) -> None:
    """Self-contained HTML (no CDN): figures are embedded, remote scripts left out."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    for trait in exporter.trait_names():
        if trait.endswith("_url") and str(getattr(exporter, trait)).startswith(("http:", "https:")):
            setattr(exporter, trait, "")
    nb = nbformat.read(ipynb, as_version=4)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = strip_remote_scripts(body)
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(html)


def strip_remote_scripts(html: str) -> str:
    """Drop <script src=...> / <link href=...> that point off the machine (offline reports)."""
    html = re.sub(r'<script[^>]*\ssrc="(?:(?:https?:)?//[^"]*)?"[^>]*>\s*</script>', "", html)
    return re.sub(r'<link[^>]*\shref="(?:https?:)?//[^"]*"[^>]*/?>', "", html)


def validate_params_or_exit(root: Path) -> None:
    from rdmldg.params import ParamsError, load

    try:
        load(paths.params_dir(root))
    except ParamsError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)


def run(notebook: Path, coords: dict, root: Path, reports: Path | None = None) -> int:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    reports = reports or paths.reports_dir(root)
    html, ipynb = output_paths(notebook, coords, reports)
    html.parent.mkdir(parents=True, exist_ok=True)
    ipynb.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ["RDMLDG_ROOT"] = str(root)
    start = time.perf_counter()
    status = 0
    try:
        pm.execute_notebook(
            to_notebook(notebook), str(ipynb), parameters=coords, kernel_name=ensure_kernel(),
            cwd=str(root), log_output=True, progress_bar=True, request_save_on_cell_execute=True,
        )
    except PapermillExecutionError as exc:
        log.error("cell %s failed: %s: %s", exc.exec_count, exc.ename, exc.evalue)
        status = 1
    finally:
        if ipynb.exists():
            render_html(ipynb, html, title=html.stem if not coords else f"{stage_name(notebook)} {html.stem}")
            log.info("report: %s", html.relative_to(root) if html.is_relative_to(root) else html)
    log.info("%s %s in %.1f s", notebook.name, "failed" if status else "ran", time.perf_counter() - start)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rdmldg.nbrun", description=__doc__.split("\n")[0])
    parser.add_argument("notebook", type=Path, help="jupytext percent-format .py notebook")
    parser.add_argument("coordinates", nargs="*", help="key=value papermill parameters")
    parser.add_argument("--reports", type=Path, default=None, help="output folder (default: reports/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    if not args.notebook.exists():
        print(f"no notebook at {args.notebook}", file=sys.stderr)
        return 2
    try:
        coords = parse_coordinates(args.coordinates)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    root = paths.find_root(args.notebook.resolve().parent)
    validate_params_or_exit(root)
    return run(args.notebook.resolve(), coords, root, args.reports)


if __name__ == "__main__":
    sys.exit(main())
