"""Run one stage notebook: jupytext .py → papermill → executed .ipynb → HTML, always.

    python -m rdmldg.nbrun notebooks/01_prepare.py [key=value ...]

The key=value pairs are the run's coordinates (held-out domain, method, seed); they become
papermill parameters and name the outputs:

    reports/<stage>.html                      (no coordinates)
    reports/<stage>/<k1>-<v1>_<k2>-<v2>.html  (with coordinates)
    reports/executed/...ipynb                 the executed notebook beside it

Parameters are validated before a kernel starts, so a bad params file fails in a second.
The HTML is rendered also when a cell failed, so the traceback reads in the report; the
exit status is papermill's (0 ok, 1 a cell failed, 2 bad arguments or params; 143 stopped
because the process that started the stage went away).

Before the kernel starts, the runner pins the numerical code paths (`rdmldg.numerics`), so
every way of running a stage (`make study`, a bare `dvc repro`, this command) computes the
same bytes. The kernel talks to the runner over Unix sockets (ZeroMQ's `ipc` transport),
so a stage needs no network interface, not even loopback. Under DVC the runner watches the
`dvc` process that started it and stops the stage (kernel included) if that process dies,
so a second `dvc repro` never races an orphaned notebook.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from html import escape
from pathlib import Path

from rdmldg import numerics, paths
from rdmldg.io import atomic_write_text

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


def ipc_kernel_manager(socket_dir: str):
    """A kernel manager class whose channels are Unix sockets in `socket_dir`."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_default(self) -> str:
            return os.path.join(socket_dir, "kernel")

    return IPCKernelManager


def stage_owner(pid: int | None = None) -> int | None:
    """Under DVC: the nearest ancestor that is not part of the stage command (the `dvc`
    process; DVC marks the command's environment with DVC_STAGE). None outside DVC."""
    if "DVC_STAGE" not in os.environ:
        return None
    pid = os.getppid() if pid is None else pid
    while pid > 1:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        if not any(e.startswith(b"DVC_STAGE=") for e in environ):
            return pid
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid
    return None


def stop_when_gone(pid: int) -> None:
    """SIGTERM to this process once `pid` has exited (a daemon thread waits for it)."""
    def wait() -> None:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:  # kernels without pidfd: look once a second
            while _alive(pid):
                time.sleep(1)
        log.error("the process that started this stage (pid %d) has exited: stopping the stage", pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="stage-owner", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Stopped(KeyboardInterrupt):
    """SIGTERM arrived: the stage is abandoned. (The kernel watches this process and exits
    with it: jupyter_client gives it our pid as JPY_PARENT_PID.)"""


def _raise_stopped(signum, frame):
    raise Stopped(f"signal {signum}")


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


STALE_BANNER = re.compile(r"\n<div id='stale'>.*?</div>", re.DOTALL)


def mark_stale(reports: Path, stage: str, report: Path | None = None, why: str = "failed") -> Path | None:
    """After a stage fails, the front page must not pass for the current run: a banner at its
    top names the stage, when, and its report (the page is replaced, never edited in place, so
    a copy DVC keeps of it stays intact; the report stage rebuilds it on the next good run)."""
    index = reports / "index.html"
    if not index.exists():
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    link = (f" Its report: <a href='{escape(report.relative_to(reports).as_posix())}'>"
            f"{escape(report.relative_to(reports).as_posix())}</a>."
            if report is not None and report.exists() and report.is_relative_to(reports) else "")
    banner = (f"\n<div id='stale'><p><b>Out of date.</b> Stage <code>{escape(stage)}</code> {escape(why)} "
              f"at {when}.{link} Everything below comes from an earlier run and may not match the current "
              "parameters; fix the stage and run <code>dvc repro</code> again.</p></div>")
    page = STALE_BANNER.sub("", index.read_text(encoding="utf-8"))
    page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, page, count=1)
    return atomic_write_text(index, page)


def run(notebook: Path, coords: dict, root: Path, reports: Path | None = None) -> int:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    reports = reports or paths.reports_dir(root)
    html, ipynb = output_paths(notebook, coords, reports)
    html.parent.mkdir(parents=True, exist_ok=True)
    ipynb.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ["RDMLDG_ROOT"] = str(root)
    numerics.apply()  # before the kernel starts: the libraries read these when they load
    start = time.perf_counter()
    status = 0
    sockets = tempfile.mkdtemp(prefix="rdmldg-kernel-")
    try:
        pm.execute_notebook(
            to_notebook(notebook), str(ipynb), parameters=coords, kernel_name=ensure_kernel(),
            cwd=str(root), log_output=True, progress_bar=True, request_save_on_cell_execute=True,
            kernel_manager_class=ipc_kernel_manager(sockets),
        )
    except PapermillExecutionError as exc:
        log.error("cell %s failed: %s: %s", exc.exec_count, exc.ename, exc.evalue)
        status = 1
    except Stopped:
        log.error("stage stopped before it finished")
        status = 143
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        if ipynb.exists():
            render_html(ipynb, html, title=html.stem if not coords else f"{stage_name(notebook)} {html.stem}")
            log.info("report: %s", html.relative_to(root) if html.is_relative_to(root) else html)
    seconds = time.perf_counter() - start
    log.info("%s %s in %.1f s", notebook.name, "failed" if status else "ran", seconds)
    if status == 0:
        record_seconds(reports, html, stage_name(notebook), coords, seconds)
    else:
        stage = stage_name(notebook) + "".join(f"@{v}" for v in coords.values())
        mark_stale(reports, stage, html, "failed" if status == 1 else "was stopped")
    return status


def record_seconds(reports: Path, html: Path, stage: str, coords: dict, seconds: float) -> Path:
    """reports/runinfo/stages/<as the report>.json: the stage's wall time, notebook start-up
    included (what `benchmarks/budget.py` adds up). Not a DVC output: timings are not results."""
    out = reports / "runinfo" / "stages" / html.relative_to(reports).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"stage": stage, "coordinates": coords, "seconds": round(seconds, 1)}, sort_keys=True)
                   + "\n")
    return out


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
    signal.signal(signal.SIGTERM, _raise_stopped)
    owner = stage_owner()
    if owner is not None:
        stop_when_gone(owner)
    return run(args.notebook.resolve(), coords, root, args.reports)


if __name__ == "__main__":
    sys.exit(main())
