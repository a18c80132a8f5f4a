"""Launching comparisons from the form: presets and validated fields in, the resolved YAML out, and
``tunelab compare`` as a subprocess on exactly that YAML, which the UI can cancel.

The form never carries a command line or a path: a shipped preset, a run name (a plain name under the
runs folder), a model id, a target task of the preset's mixture, and numbers in fixed ranges. Everything
else comes from the preset. The launch request carries the digest of the YAML the page showed and is
refused when the config it would run differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tunelab.config
from tunelab._atomic import write_text_atomic
from tunelab.config import Config, config_to_dict, load_config
from tunelab.errors import InputError, TunelabError
from tunelab.ui._runs import run_path

__all__ = ["FORM_FIELDS", "presets", "build_config", "resolved_yaml", "JobManager"]

# whole-number fields -> (config keys, low, high); with preset, name, model, target_task and method, the
# only things the form can set
FORM_FIELDS: dict[str, tuple[tuple[str, ...], int, int]] = {
    "max_steps": (("train.max_steps",), 1, 100_000),
    "n_per_task": (("synth.n_per_task",), 1, 100_000),
    "n_eval": (("compare.n_eval",), 1, 10_000),
    "seed": (("synth.seed", "train.seed"), 0, 2**31 - 1),
}
METHODS = ("full", "lora")
# a hub id (org/name) or a registered name such as tunelab-tiny; never a filesystem path
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
_CLI = "import sys; from tunelab.cli import main; sys.exit(main())"


def presets() -> dict[str, dict[str, Any]]:
    """The shipped comparison presets (those with an instruction mixture) and their form defaults."""
    out = {}
    for p in sorted((Path(tunelab.config.__file__).parent / "configs").glob("*.yaml")):
        cfg = load_config(p.stem)
        if not cfg.compare.instruction_tasks:
            continue
        out[p.stem] = {
            "model": cfg.model.name_or_path,
            "target_task": cfg.compare.target_task,
            "tasks": list(cfg.compare.instruction_tasks),
            "method": cfg.train.method,
            "max_steps": cfg.train.max_steps,
            "n_per_task": cfg.synth.n_per_task,
            "n_eval": cfg.compare.n_eval,
            "seed": cfg.synth.seed,
        }
    return out


def _field(form: dict[str, Any], name: str, low: int, high: int) -> int:
    v = form.get(name)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise InputError(f"{v!r} is not a whole number in [{low}, {high}]", field=name)
    return v


def build_config(runs_dir: Path, form: dict[str, Any]) -> Config:
    """The comparison config a form asks for: the preset, then the form's validated fields.

    Raises:
        InputError: unknown preset, a bad run name, model, task, method or number (names the field), or a
            run of that name already exists.
    """
    known = presets()
    preset = form.get("preset")
    if preset not in known:
        raise InputError(f"{preset!r} is not a preset (one of {', '.join(known)})", field="preset")
    name = str(form.get("name") or "")
    rd = run_path(runs_dir, name, field="name")
    if rd.exists():
        raise InputError(f"a run named {name!r} exists already; pick another name", field="name")
    model = str(form.get("model") or known[preset]["model"])
    if not MODEL_ID.match(model) or ".." in model:
        raise InputError(f"{model!r} is not a model id (a hub id org/name or tunelab-tiny)", field="model")
    target = str(form.get("target_task") or known[preset]["target_task"])
    if target not in known[preset]["tasks"]:
        raise InputError(f"{target!r} is not in the preset's mixture", field="target_task")
    method = form.get("method") or known[preset]["method"]
    if method not in METHODS:
        raise InputError(f"{method!r} is not one of {', '.join(METHODS)}", field="method")
    overrides = [
        f"output_dir={runs_dir.resolve()}",
        f"run_name={name}",
        f"model.name_or_path={model}",
        f"compare.target_task={target}",
        f"train.method={method}",
    ]
    for key, (keys, low, high) in FORM_FIELDS.items():
        if form.get(key) not in (None, ""):
            v = _field(form, key, low, high)
            overrides += [f"{k}={v}" for k in keys]
    return load_config(preset, overrides)


def resolved_yaml(cfg: Config) -> tuple[str, str]:
    """The fully resolved config as YAML (what the run will use, every default written out) and its digest."""
    import yaml

    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    return text, hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Job:
    """A ``tunelab compare`` subprocess started by this server."""

    name: str
    run_dir: Path
    proc: subprocess.Popen[bytes]
    started: float
    cancel_requested: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class JobManager:
    """Starts, watches and cancels comparison subprocesses (``max_running`` at a time)."""

    def __init__(self, runs_dir: Path, max_running: int = 1) -> None:
        self.runs_dir = runs_dir
        self.max_running = max_running
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def running(self) -> list[str]:
        return [n for n, j in self.jobs.items() if j.proc.poll() is None]

    def _write(self, job: Job, state: str, returncode: int | None = None) -> None:
        info = {
            "state": state,
            "pid": job.proc.pid,
            "started": job.started,
            "ended": None if state == "running" else time.time(),
            "returncode": returncode,
            "argv": ["tunelab", "compare", "ui/launch.yaml"],
        }
        write_text_atomic(job.run_dir / "ui" / "job.json", json.dumps(info, indent=1))

    def launch(self, cfg: Config, yaml_text: str) -> Job:
        """Write ``RUN_DIR/ui/launch.yaml`` and start ``tunelab compare`` on it.

        Raises:
            TunelabError: another comparison is still running.
        """
        with self.lock:
            if len(self.running()) >= self.max_running:
                raise TunelabError(f"a comparison is running already ({', '.join(self.running())})")
            rd = cfg.run_dir
            (rd / "ui").mkdir(parents=True, exist_ok=False)
            launch = rd / "ui" / "launch.yaml"
            launch.write_text(yaml_text, encoding="utf-8")
            log = (rd / "ui" / "compare.log").open("wb")
            env = {**os.environ, "TUNELAB_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen(
                [sys.executable, "-c", _CLI, "compare", str(launch)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(rd),
                env=env,
                start_new_session=True,  # its own process group: cancel stops it and its children
            )
            log.close()
            job = Job(rd.name, rd, proc, time.time())
            self.jobs[job.name] = job
            self._write(job, "running")
        threading.Thread(target=self._watch, args=(job,), name=f"job-{job.name}", daemon=True).start()
        return job

    def _watch(self, job: Job) -> None:
        rc = job.proc.wait()
        state = "cancelled" if job.cancel_requested else ("done" if rc == 0 else "failed")
        self._write(job, state, rc)
        job.done.set()

    def cancel(self, name: str, timeout_s: float = 15.0) -> None:
        """Stop a job's process group (SIGTERM, then SIGKILL) and wait until it is recorded as cancelled.

        Raises:
            InputError: no running job of that name was started by this server.
        """
        job = self.jobs.get(name)
        if job is None or job.proc.poll() is not None:
            raise InputError(f"no comparison named {name!r} is running here", field="run")
        job.cancel_requested = True
        try:
            os.killpg(job.proc.pid, signal.SIGTERM)
            job.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(job.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        job.done.wait(timeout_s)

    def shutdown(self) -> None:
        """Cancel every job still running (the UI is going away)."""
        for name in self.running():
            try:
                self.cancel(name)
            except InputError:
                pass
