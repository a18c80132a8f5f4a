"""The README's examples are true: its shell transcripts that are safe and quick to run here are run
as written (paths moved under a temporary folder), and their printed lines are checked."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = str(Path(sys.executable).parent)
# commands run as written; anything else (demo, model get, GPU recipes, long jobs) is listed in SKIPPED
SAFE = (
    "tunelab synth generate ",
    "tunelab model tiny --out ",
    "tunelab estimate ",
    "tunelab train finetune --train.max_step=3",
    "tunelab synth tasks",
    "python -c \"from transformers import AutoModelForCausalLM as M; print(M.from_pretrained('/tmp/tiny')",
)


def transcripts() -> list[list[tuple[str, list[str]]]]:
    """Every fenced block of ``$ command`` lines, as (command, expected output lines) pairs."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    out = []
    for block in blocks:
        steps: list[tuple[str, list[str]]] = []
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                cmd = line[2:]
                while cmd.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd = cmd[:-1] + lines[i]  # the shell drops a backslash-newline
                steps.append((cmd, []))
            elif steps:
                steps[-1][1].append(line)
            i += 1
        if steps:
            out.append(steps)
    return out


def _run(cmd: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], "TUNELAB_NO_PROGRESS": "1"}
    return subprocess.run(
        cmd.replace("/tmp/", f"{cwd}/"), shell=True, cwd=cwd, capture_output=True, text=True, env=env
    )


def test_safe_readme_transcripts_run_as_written(tmp_path: Path) -> None:
    ran = 0
    for steps in transcripts():
        if any("# killed" in cmd for cmd, _ in steps):
            continue  # an interrupted run, shown as it happened: tests/e2e/test_cli_robust.py kills and resumes it
        last: subprocess.CompletedProcess[str] | None = None
        for cmd, expected in steps:
            if cmd == "echo $?" and last is not None:
                assert str(last.returncode) == expected[0].strip(), last.stderr
                continue
            if not cmd.startswith(SAFE):
                last = None
                continue
            last = _run(cmd, tmp_path)
            ran += 1
            shown = (last.stdout + last.stderr).replace(str(tmp_path) + "/", "/tmp/")
            for want in expected:
                if want.strip() and "..." not in want:
                    assert want.strip() in shown, (cmd, want, shown)
    assert ran >= 5


def test_readme_serving_example_talks_to_the_server(tmp_path: Path) -> None:
    (steps,) = [s for s in transcripts() if any(c.startswith("tunelab serve") for c, _ in s)]
    serve = next(c for c, _ in steps if c.startswith("tunelab serve"))
    client = next(c for c, _ in steps if c.startswith('python -c "import openai'))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    assert _run("tunelab model tiny --out runs/demo/finetune/seed-0/final", tmp_path).returncode == 0
    serve = serve.split("&")[0].replace("8000", port) + " --device cpu"
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    proc = subprocess.Popen(
        serve,
        shell=True,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        r = _run(client.replace("8000", port), tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() or r.stdout == "\n"  # the tiny model may answer with little
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=60)
