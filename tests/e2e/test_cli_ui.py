"""`tunelab ui` end to end: a real server process on loopback, real HTTP, a real browser.

- access: no token or a wrong one is 401, a foreign Origin on a POST is 403, traversal run names are 4xx,
  a form carrying a path or an unknown preset is 400, a non-loopback --host prints a warning;
- cancel: a launched comparison's subprocess is stopped and the run shows as cancelled;
- the browser flow in headless Chromium: launch demo-quick from the form, watch stage and step advance,
  open the results, filter flipped items, cast three blind votes, see the win rate in the page and in the
  regenerated report.md, chat with two models; no console errors; a screenshot of every page in .artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.browser import chromium_driver

TUNELAB = str(Path(sys.executable).parent / "tunelab")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "ui"


class UI:
    def __init__(self, proc: subprocess.Popen[str], url: str, runs: Path) -> None:
        self.proc, self.url, self.runs = proc, url, runs
        self.base = url.split("/?")[0]
        self.token = url.split("token=")[1]
        self.headers = {"X-Tunelab-Token": self.token}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.headers, timeout=60)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(self.base + path, headers=headers or self.headers, json=body, timeout=60)


def _start(runs: Path, *extra: str) -> tuple[subprocess.Popen[str], str, str]:
    # one thread per process: on a shared machine the comparison, the browser and the model servers would
    # otherwise oversubscribe the cores (the demo-quick training ran at 14 instead of ~1000 tokens/s at load 9)
    env = {**os.environ, "TUNELAB_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [TUNELAB, "ui", "--runs", str(runs), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "?token=" in line:
            return proc, line.strip(), ""
    proc.wait(10)
    raise AssertionError(f"no URL printed; stderr: {proc.stderr.read() if proc.stderr else ''}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(60)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    runs = tmp_path_factory.mktemp("runs")
    proc, url, _ = _start(runs)
    try:
        yield UI(proc, url, runs)
    finally:
        _stop(proc)


def _wait(fn: Any, what: str, limit_s: float = 1200, every_s: float = 0.5) -> Any:
    """Poll until fn() is truthy; the limit only keeps a broken run from hanging the suite."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(every_s)
    raise AssertionError(f"gave up waiting for {what}")


def test_token_origin_and_names_are_checked(ui: UI) -> None:
    assert httpx.get(ui.base + "/api/runs").status_code == 401
    assert httpx.get(ui.base + "/").status_code == 401
    assert httpx.get(ui.base + "/api/runs", headers={"X-Tunelab-Token": "wrong"}).status_code == 401
    assert ui.get("/api/runs").status_code == 200
    page = httpx.get(ui.url)  # the printed URL opens the page and sets the cookie
    assert page.status_code == 200 and "tunelab" in page.text
    cookies = dict(page.cookies)
    assert httpx.get(ui.base + "/api/runs", cookies=cookies).status_code == 200
    form = {"preset": "demo-quick", "name": "ok-name"}
    # a POST with only the cookie (what a cross-site form could send) is refused; so is a foreign origin
    assert httpx.post(ui.base + "/api/launch/preview", json=form, cookies=cookies).status_code == 401
    r = ui.post("/api/launch/preview", form, headers={**ui.headers, "Origin": "http://evil.example"})
    assert r.status_code == 403
    r = ui.post("/api/launch/preview", form, headers={**ui.headers, "Origin": ui.base})
    assert r.status_code == 200 and "run_name: ok-name" in r.json()["yaml"]
    for bad in ["..", ".ssh", "..%2F..%2Fetc", "a%2F..%2F..%2Fb", "%2Fetc", "x" * 80]:
        code = ui.get(f"/api/runs/{bad}/progress").status_code
        assert 400 <= code < 500, (bad, code)
    for field, value in [("name", "../escape"), ("name", "/tmp/x"), ("model", "/etc/passwd"),
                         ("model", "../../x"), ("max_steps", 0), ("method", "qlora; rm -rf"),
                         ("target_task", "no_such_task"), ("preset", "../../../etc/passwd")]:  # fmt: skip
        r = ui.post("/api/launch/preview", {**form, field: value})
        assert r.status_code == 400, (field, value, r.text)
        assert r.json()["error"]["field"] == field, r.text
    r = ui.post("/api/launch", {"form": form, "digest": "not-the-shown-one"})
    assert r.status_code == 409
    assert not (ui.runs / "ok-name").exists()


def test_non_loopback_host_warns(tmp_path: Path) -> None:
    proc, url, _ = _start(tmp_path, "--host", "0.0.0.0")
    try:
        assert url.startswith("http://0.0.0.0:")
    finally:
        _stop(proc)
    assert proc.stderr is not None
    assert "anyone who can reach this address" in proc.stderr.read()


def test_cancel_stops_the_subprocess(ui: UI) -> None:
    form = {"preset": "demo-quick", "name": "to-cancel"}
    shown = ui.post("/api/launch/preview", form).json()
    r = ui.post("/api/launch", {"form": form, "digest": shown["digest"]})
    assert r.status_code == 200, r.text
    pid = r.json()["pid"]
    assert (ui.runs / "to-cancel" / "ui" / "launch.yaml").read_text() == shown["yaml"]
    # a second launch while one runs is refused
    other = {"preset": "demo-quick", "name": "second"}
    r2 = ui.post(
        "/api/launch", {"form": other, "digest": ui.post("/api/launch/preview", other).json()["digest"]}
    )
    assert r2.status_code == 409
    state = ui.get("/api/runs/to-cancel/progress").json()["state"]
    assert state in ("starting", "training"), state
    r = ui.post("/api/runs/to-cancel/cancel", {})
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    runs = {x["name"]: x for x in ui.get("/api/runs").json()["runs"]}
    assert runs["to-cancel"]["state"] == "cancelled"
    assert ui.post("/api/runs/to-cancel/cancel", {}).status_code == 400  # nothing left to cancel


def test_failed_run_shows_its_error(ui: UI) -> None:
    form = {"preset": "demo-quick", "name": "will-fail", "model": "nobody/no-such-model"}
    shown = ui.post("/api/launch/preview", form).json()
    assert ui.post("/api/launch", {"form": form, "digest": shown["digest"]}).status_code == 200
    p = _wait(
        lambda: (q := ui.get("/api/runs/will-fail/progress").json())["state"] == "failed" and q,
        "failure",
        300,
    )
    assert "no-such-model" in p["error"], p


def _shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _text(driver: Any, css: str) -> str:
    """The element's rendered text, read in one script (the page re-renders while it polls)."""
    return str(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css
        )
    )


def _attr(driver: Any, css: str, name: str) -> str | None:
    v = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
        css,
        name,
    )
    return None if v is None else str(v)


def test_browser_launch_watch_browse_judge_chat(ui: UI, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chromium_driver(str(tmp_path / "profile"))
    for old in ARTIFACTS.glob("*.png"):  # this run's screenshots only
        old.unlink()
    try:
        driver.set_window_size(1280, 1400)
        driver.get(ui.url)
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#runs-table[data-loaded]"), "runs table")
        _shot(driver, "1-runs")
        # ---- launch demo-quick from the form
        driver.find_element(By.ID, "new-run").click()
        _wait(lambda: driver.find_elements(By.ID, "preset"), "form")
        Select(driver.find_element(By.ID, "preset")).select_by_value("demo-quick")
        name = driver.find_element(By.ID, "name")
        name.clear()
        name.send_keys("from-form")
        driver.find_element(By.ID, "preview").click()
        yaml_text = _wait(lambda: driver.find_element(By.ID, "yaml").text, "resolved YAML")
        assert "run_name: from-form" in yaml_text and "max_steps: 20" in yaml_text
        _shot(driver, "2-launch-form")
        driver.find_element(By.ID, "launch").click()
        # ---- the live view: stage and step advance
        seen: list[tuple[str, str, int]] = []

        def observe() -> bool:
            state = _attr(driver, "#state [data-state]", "data-state")
            if state is None:
                return False
            for m in ("instruction", "finetune"):
                step = _attr(driver, f"#step-{m}", "data-step")
                if step is not None:
                    seen.append((state, m, int(step)))
            if state == "training" and not (ARTIFACTS / "3-live.png").exists():
                _wait(
                    lambda: driver.find_elements(By.CSS_SELECTOR, "#live-loss polyline"), "a loss curve", 120
                )
                _shot(driver, "3-live")
            return state in ("done", "failed")

        _wait(observe, "the comparison to finish", every_s=0.3)
        assert _text(driver, "#state") == "done", _text(driver, "#run-error")
        states = [s for s, _, _ in seen]
        assert "training" in states and "evaluating" in states
        assert states.index("training") < len(states) - 1 - states[::-1].index("evaluating")
        for m in ("instruction", "finetune"):
            steps = [k for _, mm, k in seen if mm == m]
            assert steps[-1] == 20 and len(set(steps)) >= 2, (m, sorted(set(steps)))
        run = ui.runs / "from-form"
        assert (run / "config.yaml").read_text() == (run / "ui" / "launch.yaml").read_text()  # what was shown
        # ---- results: filter flipped items
        driver.find_element(By.ID, "open-results").click()
        _wait(lambda: _attr(driver, "#flips-count", "data-n"), "flipped items")
        all_n = int(_attr(driver, "#flips-count", "data-n") or 0)
        flips_all = int(_attr(driver, "#flips-count", "data-a-only") or 0) + int(
            _attr(driver, "#flips-count", "data-b-only") or 0
        )
        assert flips_all > 0 and len(driver.find_elements(By.CSS_SELECTOR, ".flip")) == min(flips_all, 100)
        card = driver.find_elements(By.CSS_SELECTOR, ".flip")[0]
        assert "gold:" in card.text and card.find_element(By.CSS_SELECTOR, "pre.prompt").text
        # both methods' train and validation curves, read from compare.json
        series = driver.execute_script(
            "return [...document.querySelectorAll('#results-loss polyline')].map(e => e.dataset.series)"
        )
        assert set(series) == {f"{m}-{k}" for m in ("instruction", "finetune") for k in ("train", "val")}
        _shot(driver, "4-results")
        Select(driver.find_element(By.ID, "flips-slice")).select_by_value("target_format")
        _wait(lambda: int(_attr(driver, "#flips-count", "data-n") or 0) < all_n, "slice filter")
        slices = driver.execute_script(
            "return [...document.querySelectorAll('.flip')].map(e => e.dataset.slice)"
        )
        assert slices and set(slices) == {"target_format"}
        # ---- three blind votes
        driver.find_element(By.ID, "tab-judge").click()
        _wait(lambda: driver.find_elements(By.ID, "judge-start"), "judge start")
        driver.find_element(By.ID, "judge-start").click()
        votes = []
        for pref in ("left", "right", "left"):
            _wait(lambda p=pref: driver.find_elements(By.ID, f"vote-{p}"), "an item to judge")
            # names hidden until the vote: nothing on the item but its id, prompt and the two answers names one
            page = driver.find_element(By.ID, "judge-item").text
            for css in ("#judge-progress", "pre.prompt", "#answer-left", "#answer-right"):
                page = page.replace(_text(driver, css), "")
            assert "Left" in page and not any(m in page for m in ("base", "instruction", "finetune")), page
            driver.find_element(By.ID, f"vote-{pref}").click()
            revealed = _wait(lambda: _text(driver, "#revealed"), "the reveal")
            votes.append((pref, revealed))
            driver.find_element(By.ID, "next").click()
            _wait(lambda: not driver.find_elements(By.ID, "revealed"), "the next item")
        lines = [
            json.loads(x) for x in (ui.runs / "from-form" / "human" / "votes.jsonl").read_text().splitlines()
        ]
        assert [v["preference"] for v in lines] == ["left", "right", "left"]
        wins = sum(
            (v["left_model"] if v["preference"] == "left" else v["right_model"]) == "instruction"
            for v in lines
        )
        expected = f"{100 * wins / 3:.1f}%"
        _wait(lambda: _text(driver, "#winrate").startswith(expected), "the win rate in the page", 60)
        _wait(lambda: _text(driver, "#report-status").startswith("report.md"), "report status", 60)
        _wait(lambda: _text(driver, "#report-status").find("updated") >= 0, "the report rewritten", 120)
        md = (ui.runs / "from-form" / "report.md").read_text()
        assert "## Human judgement" in md and f"| instruction preferred | {expected}" in md
        _shot(driver, "5-judge")
        # ---- chat: two models answer one message, streamed side by side
        driver.find_element(By.ID, "tab-chat").click()
        _wait(lambda: driver.find_elements(By.ID, "chat-send"), "chat page")
        Select(driver.find_element(By.ID, "chat-a")).select_by_value("base")
        driver.find_element(By.ID, "chat-send").click()
        _wait(lambda: _attr(driver, "#chat-status", "data-done"), "both answers", 300)
        assert _text(driver, "#chat-status") == "both answered"
        assert _text(driver, "#chat-out-b")  # the fine-tuned model answers in its own format
        _shot(driver, "6-chat")
        driver.get(ui.url)  # the runs list shows the finished run with its headline numbers
        _wait(lambda: "done" in _text(driver, "tr[data-run='from-form']"), "the run listed as done")
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    finally:
        driver.quit()
    assert errors == []
