"""The one executor: a dead worker fails its own file only, workers need no main guard, and the
Pipeline a process keeps follows the checkpoint asked for."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.analyze import Pipeline, default_checkpoint_dir
from mtmm_es.pipeline.batch import BatchOptions, run_batch
from mtmm_es.pipeline.executor import run_jobs


@dataclass(frozen=True)
class Task:
    input: str


def behave(task: Task) -> str:
    """A job for the executor: 'die' kills its own process, 'bug' raises, anything else echoes."""
    if task.input == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if task.input == "exit":
        os._exit(3)
    if task.input == "bug":
        raise ZeroDivisionError("boom")
    if task.input == "bad":
        raise MtmmError("not media", task.input)
    if task.input.startswith("log"):
        name = "mtmm_es.pipeline.quiet" if task.input == "logq" else "mtmm_es.pipeline.test"
        logging.getLogger(name).warning("%s: said %s", task.input, "this")
    if task.input == "late":  # a thread that logs once the job is done and the pipe may be closed
        later = threading.Timer(0.5, logging.getLogger("mtmm_es.pipeline.test").warning, ["late: said this"])
        later.start()
    return task.input.upper()


def test_a_dead_worker_fails_its_own_job_only() -> None:
    tasks = [Task(name) for name in ("a", "die", "b", "exit", "bug", "bad", "c")]
    results = {task.input: result for task, result in run_jobs(behave, tasks, workers=2)}
    assert {k: results[k] for k in "abc"} == {"a": "A", "b": "B", "c": "C"}
    assert "worker process died (killed by SIGKILL" in str(results["die"])
    assert "worker process died (exit status 3)" in str(results["exit"])
    assert str(results["bug"]) == "bug: unexpected ZeroDivisionError: boom"
    assert isinstance(results["bad"], MtmmError) and results["bad"].cause == "not media"


def test_a_caller_that_stops_early_leaves_no_worker_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the worker whose result was being handed out was in no list, so when the caller
    stopped there (Ctrl-C, break) it was never closed and stayed behind its parent."""
    import mtmm_es.pipeline.executor as executor

    started = []

    class Recorded(executor._Worker):
        def __init__(self, level: int):
            super().__init__(level)
            started.append(self)

    monkeypatch.setattr(executor, "_Worker", Recorded)
    results = run_jobs(behave, [Task(name) for name in "abcd"], workers=2)
    next(results)
    results.close()
    assert len(started) == 2 and all(worker.process.returncode is not None for worker in started)


def test_a_workers_messages_reach_the_callers_log_handlers(capfd: pytest.CaptureFixture[str]) -> None:
    """Regression from a user test of the API: with workers > 1 the workers printed their messages
    to stderr themselves, past the handlers the application had put on the mtmm_es logger. From its
    review: a logger the caller quietened is obeyed, and a record a worker logs after its pipe has
    closed is dropped without a "Logging error" traceback."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger, quiet = logging.getLogger("mtmm_es"), logging.getLogger("mtmm_es.pipeline.quiet")
    others = logger.handlers[:]  # an earlier test's CLI run may have left one on a closed stream
    logger.handlers[:] = [handler]
    logger.propagate = False
    quiet.setLevel(logging.ERROR)
    try:
        tasks = [Task("log1"), Task("log2"), Task("logq"), Task("late"), Task("a")]
        results = dict(run_jobs(behave, tasks, workers=2))
    finally:
        logger.handlers[:] = others
        logger.propagate = True
        quiet.setLevel(logging.NOTSET)
    assert [results[Task(name)] for name in ("log1", "log2", "logq", "a")] == ["LOG1", "LOG2", "LOGQ", "A"]
    said = sorted((r.name, r.levelname, r.getMessage()) for r in records)
    assert said == [("mtmm_es.pipeline.test", "WARNING", f"log{k}: said this") for k in (1, 2)]
    time.sleep(1.0)  # the late record is logged (and dropped) by now
    err = capfd.readouterr().err
    assert "said" not in err and "Logging error" not in err, err


def test_in_process_jobs_have_the_same_error_boundary() -> None:
    results = dict(run_jobs(behave, [Task("bug"), Task("a")], workers=1))
    assert str(results[Task("bug")]) == "bug: unexpected ZeroDivisionError: boom" and results[Task("a")] == "A"


def _workers(pid: int) -> list[int]:
    """Child processes of `pid` that analyse files (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" not in command:
                found.append(int(child))
    return found


@pytest.mark.slow
def test_killed_worker_in_a_folder_run_fails_one_file(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    root = tmp_path / "three"
    root.mkdir()
    for k in range(3):
        (root / f"clip{k}.mp4").write_bytes(fixture_video.read_bytes() + bytes(k))
    out = tmp_path / "out"
    code = "import sys; from mtmm_es.cli import analyze_video; sys.exit(analyze_video())"
    args = [sys.executable, "-c", code, str(root), "--out", str(out), "--workers", "2", "--cache-dir", str(cache_dir)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not _workers(process.pid):
        time.sleep(0.05)
    time.sleep(1)  # let it start on its file
    os.kill(_workers(process.pid)[0], signal.SIGKILL)  # as the out-of-memory killer would
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1 and "2 processed, 0 skipped, 1 failed" in stdout, stdout + stderr
    assert "worker process died (killed by SIGKILL" in stderr and "Traceback" not in stderr
    assert len(list(out.glob("clip*.mp4.json"))) == 2


@pytest.mark.slow
def test_readme_snippet_runs_without_a_main_guard(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(
        "from mtmm_es import ExtractionConfig, Pipeline\n"
        f"paths = [{str(fixture_video)!r}, {str(tmp_path / 'missing.mp4')!r}]\n"
        f"results = Pipeline(ExtractionConfig(cache_dir={str(cache_dir)!r})).analyze_many(paths, workers=2)\n"
        "print([type(r).__name__ for r in results])\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['VideoResult', 'MtmmError']" and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_later_checkpoint_is_not_ignored(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    other = tmp_path / "other-checkpoint"
    shutil.copytree(default_checkpoint_dir(), other)
    config = json.loads((other / "config.json").read_text())
    config["training"]["recipe"] = "other"
    (other / "config.json").write_text(json.dumps(config))
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(fixture_video, root / "talk.mp4")
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    for name, checkpoint in (("first", None), ("second", str(other))):
        run_batch(root, tmp_path / name, BatchOptions(workers=1), extraction, checkpoint, progress=False)
    first = json.loads((tmp_path / "first" / "talk.mp4.json").read_text())["model"]
    second = json.loads((tmp_path / "second" / "talk.mp4.json").read_text())["model"]
    assert first["checkpoint"] == str(default_checkpoint_dir()) and second["checkpoint"] == str(other)
    assert second["recipe"] == "other"
    assert Pipeline(extraction, other).analyze_many([fixture_video])[0].model.recipe == "other"
