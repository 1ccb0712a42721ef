"""The post-job engine event: produced only once Slurm reports the job ended (its log complete),
without blocking the executor, and with one sacct call per poll interval for every watched job.

A fake ``sacct`` on PATH logs each call and answers from a states file the test controls.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import DagsterEvent

from sec_assets.dagster_seam import RetryMode, StepDelegatingExecutor
from sec_assets.executor import JobRecord, SubmititExecutor, SubmititStepHandler
from sec_assets.executor import report as report_module
from sec_assets_tests.executor.helpers import make_config

INTERVAL = 0.5
FAKE_SACCT = """#!{python}
import json, sys, time
ids = sys.argv[sys.argv.index("-j") + 1].split(",")
with open({log!r}, "a") as log:
    log.write(json.dumps({{"t": time.time(), "ids": ids}}) + "\\n")
with open({states!r}) as f:
    states = json.load(f)
for job in ids:
    if job in states:
        print(f"{{job}}|{{states[job]}}|0:0|cpu1|00:00:07||billing=2,cpu=2,mem=1G,node=1|7|2|1|00:05.600")
        print(f"{{job}}.batch|{{states[job]}}|0:0|cpu1|00:00:07|2048K|cpu=2,mem=1G,node=1|7|2|1|00:05.600")
"""


class FakeSlurm:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log = tmp_path / "sacct.log"
        self.states_file = tmp_path / "states.json"
        self.set()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        sacct = bin_dir / "sacct"
        sacct.write_text(
            FAKE_SACCT.format(python=sys.executable, log=str(self.log), states=str(self.states_file))
        )
        sacct.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    def set(self, **states: str) -> None:
        tmp = self.states_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(states))
        tmp.replace(self.states_file)

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    return FakeSlurm(tmp_path, monkeypatch)


def _handler(tmp_path: Path, **config) -> SubmititStepHandler:
    config.setdefault("poll_interval_s", INTERVAL)
    return SubmititStepHandler(make_config(folder=str(tmp_path / "jobs"), **config))


def _job(handler: SubmititStepHandler, job_id: str, step: str, run_id: str = "run1") -> JobRecord:
    folder = handler.config.folder / run_id
    folder.mkdir(parents=True, exist_ok=True)
    record = JobRecord(job_id, f"sec-run1-{step}-a0", step, 0, folder)
    handler.jobs[(run_id, step)] = record
    return record


def test_awaiting_and_running_jobs_cost_one_sacct_call_per_interval(tmp_path, slurm):
    handler = _handler(tmp_path)
    running = [_job(handler, f"10{i}", f"running_{i}") for i in range(3)]
    awaiting = [_job(handler, f"20{i}", f"ended_{i}") for i in range(3)]
    slurm.set(**{r.job_id: "RUNNING" for r in running + awaiting})
    for record in awaiting:
        handler.step_ended("run1", record.step_key)
    lookups = 0
    for _ in range(2):  # two poll intervals
        start = time.monotonic()
        while time.monotonic() - start < INTERVAL * 0.6:
            for record in running:  # the executor's health checks
                handler.job_state(record)
                lookups += 1
            assert handler.finished_jobs() == []  # after each event: nothing has ended
            lookups += 1
            time.sleep(0.01)
        time.sleep(INTERVAL)
    calls = slurm.calls()
    all_ids = sorted(r.job_id for r in running + awaiting)
    assert len(calls) == 2, f"{len(calls)} sacct calls for {lookups} look-ups"
    assert all(sorted(call["ids"]) == all_ids for call in calls)  # one call serves all six jobs
    assert lookups > 20
    print(
        f"\n{len(all_ids)} jobs (3 running, 3 awaiting), {lookups} look-ups in 2 intervals: "
        f"{len(calls)} sacct calls"
    )


def test_the_event_waits_for_the_job_to_end_and_has_the_complete_tail(tmp_path, slurm, monkeypatch):
    handler = _handler(tmp_path)
    record = _job(handler, "301", "clap_embeddings")
    record.stderr.write_text("STEP_START\nASSET_MATERIALIZATION\n")
    slurm.set(**{"301": "RUNNING"})
    read: list[Path] = []
    real_tail = report_module.tail
    monkeypatch.setattr(
        report_module, "tail", lambda path, lines=20: read.append(path) or real_tail(path, lines)
    )
    handler.step_ended("run1", "clap_embeddings")
    start = time.monotonic()
    while time.monotonic() - start < 3 * INTERVAL:  # the job still runs: no event, nothing read
        assert handler.finished_jobs() == []
        time.sleep(0.05)
    assert read == [] and handler.awaiting == [record] and len(slurm.calls()) >= 3
    with record.stderr.open("a") as f:  # the job writes its last lines, then Slurm says it ended
        f.write("STEP_SUCCESS\nsec_assets: done\n")
    slurm.set(**{"301": "COMPLETED"})
    events = []
    while not events and time.monotonic() - start < 30:
        events = handler.finished_jobs()
        time.sleep(0.05)
    (event,) = events
    assert event.step_key == "clap_embeddings" and handler.awaiting == [] and record.reported
    assert event.message.startswith("Slurm job 301 of clap_embeddings: COMPLETED on cpu1")
    assert "MaxRSS 2048K" in event.message and event.metadata["job_finished"] is True
    # efficiency: TotalCPU 5.6 s over 7 s × 2 CPUs; one node for 7 s
    assert event.metadata["cpu_efficiency"] == 0.4 and event.metadata["node_hours"] == round(7 / 3600, 6)
    assert event.metadata["cpu_hours"] == round(14 / 3600, 6) and event.metadata["elapsed_s"] == 7.0
    assert "CPU efficiency 40%, 0.0019 node-h" in event.message
    assert "GPU" not in event.message and "gpu_samples" not in event.metadata  # no GPU sampled
    tail = event.metadata["stderr_tail"].value
    assert tail.startswith("STEP_START") and tail.endswith("STEP_SUCCESS\nsec_assets: done")
    assert handler.finished_jobs() == []  # one event per job
    assert "301" not in handler._watched_ids()  # and sacct is no longer asked about it


def test_a_job_that_never_ends_gets_an_event_saying_so(tmp_path, slurm):
    handler = _handler(tmp_path, finish_wait_s=1.5)
    record = _job(handler, "401", "augmented_segments")
    record.stderr.write_text("STEP_START\n")
    slurm.set(**{"401": "RUNNING"})
    handler.step_ended("run1", "augmented_segments")
    start = time.monotonic()
    events = []
    while not events and time.monotonic() - start < 30:
        events = handler.finished_jobs()
        time.sleep(0.05)
    waited = time.monotonic() - start
    (event,) = events
    assert 1.5 <= waited < 10
    assert "had not finished when it was read (RUNNING" in event.message
    assert "partial" in event.message and event.metadata["job_finished"] is False
    assert len(slurm.calls()) <= waited / INTERVAL + 1


def test_local_mode_waits_for_the_process(tmp_path):
    handler = _handler(tmp_path, mode="local")
    record = _job(handler, "5001", "raw_manifest")
    done = {"value": False}
    record.job = SimpleNamespace(done=lambda: done["value"], exception=lambda: None)
    handler.step_ended("run1", "raw_manifest")
    assert handler.finished_jobs() == []
    record.stdout.write_text("all done\n")
    done["value"] = True
    (event,) = handler.finished_jobs()
    assert event.message == "Local job 5001 of raw_manifest: COMPLETED"
    assert event.metadata["stdout_tail"].value == "all done"


def _event(step_key: str, kind: str) -> SimpleNamespace:
    flags = dict.fromkeys(("is_step_success", "is_step_failure", "is_step_up_for_retry"), False)
    if kind:
        flags[f"is_step_{kind}"] = True
    return SimpleNamespace(step_key=step_key, **flags)


def test_the_executor_reports_after_events_and_drains_at_the_end(tmp_path, slurm, monkeypatch):
    """Wiring: events come from the step-delegating loop; a job that ended is reported after the
    next event; one still running is reported in the drain after the run, once it has ended."""
    handler = _handler(tmp_path)
    slow = _job(handler, "601", "slow")
    quick = _job(handler, "602", "quick")
    slow.stderr.write_text("STEP_START\n")
    quick.stderr.write_text("STEP_START\nSTEP_SUCCESS\n")
    slurm.set(**{"601": "RUNNING", "602": "COMPLETED"})
    emitted: list[tuple[str, str, str]] = []
    orchestrator: list[str] = []
    phase = {"now": "run"}

    def fake_execute(self, plan_context, execution_plan):
        yield _event("slow", "success")  # the step has reported; its job is still running
        yield _event("quick", "success")
        time.sleep(INTERVAL)
        yield _event("quick", "")  # any later event
        phase["now"] = "drain"

    def fake_engine_event(step_context, message, event_specific_data=None):
        assert event_specific_data is not None
        if message.startswith("Orchestrator of this run: "):  # first, for `sec-assets recover`
            assert not emitted and event_specific_data.metadata["orchestrator_pid"].value == os.getpid()
            orchestrator.append(message)
            return "orchestrator event"
        emitted.append((phase["now"], step_context, message))
        if message.startswith("Slurm usage of this run"):  # the run-level summary, last
            assert event_specific_data.metadata["node_hours_total"].value == 2 * round(7 / 3600, 6)
            assert "| slow | 1 | 0.0019 | 40% |" in event_specific_data.metadata["by_step"].value
        else:
            assert "stderr_tail" in event_specific_data.metadata

    monkeypatch.setattr(StepDelegatingExecutor, "execute", fake_execute)
    monkeypatch.setattr(DagsterEvent, "engine_event", staticmethod(fake_engine_event))

    def job_ends():
        with slow.stderr.open("a") as f:
            f.write("STEP_SUCCESS\n")
        slurm.set(**{"601": "COMPLETED", "602": "COMPLETED"})

    timer = threading.Timer(3 * INTERVAL, job_ends)
    timer.start()
    executor = SubmititExecutor(handler, retries=RetryMode.DISABLED)
    plan_context = SimpleNamespace(run_id="run1", for_step=lambda step: f"ctx:{step}")
    plan = SimpleNamespace(get_step_by_key=lambda key: key)
    start = time.monotonic()
    events = list(executor.execute(plan_context, plan))
    timer.join()
    assert len(events) == 4 and events[0] == "orchestrator event" and len(orchestrator) == 1
    assert [(p, c) for p, c, _ in emitted] == [
        ("run", "ctx:quick"),
        ("drain", "ctx:slow"),
        ("drain", plan_context),
    ]
    assert all(m.startswith("Slurm job 60") and ": COMPLETED on" in m for _, _, m in emitted[:2])
    assert emitted[2][2] == "Slurm usage of this run: 0.0039 node-hours (quick 0.0019, slow 0.0019)"
    assert handler.awaiting == [] and time.monotonic() - start < 20
    times = [c["t"] for c in slurm.calls()]
    assert all(b - a >= INTERVAL * 0.95 for a, b in itertools.pairwise(times)), times
