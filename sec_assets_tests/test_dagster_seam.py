"""The seam over Dagster's private API (:mod:`sec_assets.dagster_seam`): every name it offers,
against a real instance and real objects — so a Dagster upgrade that moves or changes one fails
here, naming it — and the rule that no other module of sec_assets imports ``dagster._…``."""

from __future__ import annotations

import ast
import os
import signal
import socket
import string
import sys
import time
import warnings
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    BetaWarning,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    Field,
    StaticPartitionsDefinition,
    asset,
    execute_job,
    job,
    op,
    partition_loading_context,
)

from sec_assets import dagster_seam as seam
from sec_assets.core.processes import process_start_time
from sec_assets.executor import SubmititExecutor, SubmititStepHandler, job_name, submitit_executor
from sec_assets.executor.recovery import ORCHESTRATOR_EVENT, STARTED_AT
from sec_assets_tests.executor.helpers import make_config

PACKAGE = Path(seam.__file__).parent
SEAM = Path(seam.__file__)

# ------------------------------------------------------------------ a code location for the tests

LETTERS = StaticPartitionsDefinition(["a", "b", "c", "d", "e"])


with warnings.catch_warnings():  # backfill_policy is "beta" in Dagster 1.13
    warnings.simplefilter("ignore", BetaWarning)

    @asset(partitions_def=LETTERS, backfill_policy=BackfillPolicy.multi_run(2))
    def letters() -> None: ...


@asset(deps=[letters])
def summary() -> None: ...


@op
def noop() -> int:
    return 1


@job(executor_def=submitit_executor)
def on_submitit() -> None:
    noop()


@job
def in_process() -> None:
    noop()


defs = Definitions(assets=[letters, summary], jobs=[on_submitit, in_process])


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as inst:
        yield inst


# ------------------------------------------------------------------ the rule


def _private_imports(path: Path) -> list[str]:
    """``dagster._…`` (or ``dagster_<x>._…``) named by an import, a ``from dagster import _x`` or
    an attribute ``dagster._x`` in the module's source: each as ``line: what``."""

    def private(module: str) -> bool:
        top, _, rest = module.partition(".")
        return top.startswith("dagster") and rest.startswith("_")

    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if private(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if private(node.module):
                names = [node.module]
            elif node.module.startswith("dagster"):
                names = [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id.startswith("dagster")
            and node.attr.startswith("_")
        ):
            names = [f"{node.value.id}.{node.attr}"]
        found += [(getattr(node, "lineno", 0), n) for n in names]
    return [f"{line}: {name}" for line, name in sorted(found)]


def test_no_module_but_the_seam_imports_dagster_private_api():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != SEAM and (hits := _private_imports(path))
    }
    assert offenders == {}, f"import these through sec_assets/dagster_seam.py: {offenders}"
    # the scanner sees what it looks for: the seam's own imports
    assert len(_private_imports(SEAM)) >= 10


def test_the_scanner_catches_every_form(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import dagster._core.events\n"
        "from dagster._core.events import EngineEventData\n"
        "from dagster import _check as check\n"
        "import dagster\n"
        "x = dagster._seven\n"
        "from dagster_postgres._version import __version__\n"
        "from dagster import asset, DagsterInstance\n"
    )
    assert [hit.split(": ")[0] for hit in _private_imports(module)] == ["1", "2", "3", "5", "6"]


# ------------------------------------------------------------------ 1. the step-delegating executor


def test_engine_event_data_carries_metadata_into_the_event_log(instance):
    run = instance.create_run_for_job(in_process)
    data = seam.EngineEventData(metadata={"submitit_job_id": "123", "attempt": 2, "node_hours": 0.5})
    instance.report_engine_event("hello from the seam", run, data)
    events = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    assert [e.message for e in events if e is not None] == ["hello from the seam"]
    meta = events[0].engine_event_data.metadata
    assert (meta["submitit_job_id"].value, meta["attempt"].value, meta["node_hours"].value) == ("123", 2, 0.5)


def test_the_retries_field_and_the_retry_mode_it_selects():
    field = seam.retries_config_field()
    assert isinstance(field, Field) and field.default_value == {"enabled": {}}
    assert seam.retry_mode(field.default_value) is seam.RetryMode.ENABLED
    assert seam.retry_mode({"disabled": {}}) is seam.RetryMode.DISABLED
    assert seam.RetryMode.ENABLED.enabled and seam.RetryMode.DISABLED.disabled
    with pytest.raises(ValueError, match="selects no retry mode"):
        seam.retry_mode({})


def test_an_interrupt_is_seen_only_once_dagster_has_captured_one():
    from dagster._utils.interrupts import capture_interrupts  # how Dagster runs a run's steps

    sigterm = signal.getsignal(signal.SIGTERM)  # Dagster maps SIGTERM to SIGINT's handler on exit
    assert seam.interrupt_requested() is False
    try:
        with capture_interrupts():
            assert seam.interrupt_requested() is False
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 5
            while not seam.interrupt_requested() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert seam.interrupt_requested() is True
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert seam.interrupt_requested() is False  # leaving the capture consumes it


def test_check_step_health_results():
    assert seam.CheckStepHealthResult.healthy().is_healthy is True
    sick = seam.CheckStepHealthResult.unhealthy("job 7 ended NODE_FAIL")
    assert sick.is_healthy is False and sick.unhealthy_reason == "job 7 ended NODE_FAIL"


def test_the_executor_is_built_on_the_step_delegating_classes():
    handler = SubmititStepHandler(make_config(mode="local"))
    assert isinstance(handler, seam.StepHandler) and handler.name == "submitit-local"
    executor = SubmititExecutor(handler, retries=seam.RetryMode.DISABLED)
    assert isinstance(executor, seam.StepDelegatingExecutor)
    assert executor.retries is seam.RetryMode.DISABLED
    # the handler's methods take the context Dagster hands a step handler
    assert "StepHandlerContext" in str(
        SubmititStepHandler.launch_step.__annotations__["step_handler_context"]
    )
    assert seam.StepHandlerContext.__name__ == "StepHandlerContext"


# ------------------------------------------------------------------ 2. reconstructable jobs


def test_module_repository_loads_a_job_of_a_code_location():
    repository = seam.module_repository(__name__)
    assert isinstance(repository, seam.ReconstructableRepository)
    job_def = repository.get_reconstructable_job("in_process").get_definition()
    assert job_def.name == "in_process" and [n.name for n in job_def.nodes] == ["noop"]


@pytest.mark.slow
def test_a_reconstructable_job_runs_its_steps_through_the_step_handler(instance, tmp_path):
    """End to end (local mode: each step a submitit subprocess): the step handler reads the
    StepHandlerContext, the executor records its orchestrator and every job as engine events."""
    reconstructable = seam.module_repository(__name__).get_reconstructable_job("on_submitit")
    config = {
        "mode": "local",
        "folder": str(tmp_path / "jobs"),
        "poll_interval_s": 0.5,
        "finish_wait_s": 30.0,
    }
    config["python"] = sys.executable
    result = execute_job(reconstructable, instance=instance, run_config={"execution": {"config": config}})
    assert result.success
    events = [
        e.dagster_event
        for e in instance.all_logs(result.run_id, of_type=DagsterEventType.ENGINE_EVENT)
        if e.dagster_event is not None
    ]
    owner = next(e for e in events if (e.message or "").startswith(ORCHESTRATOR_EVENT))
    meta = owner.engine_event_data.metadata
    assert meta["orchestrator_host"].value == socket.gethostname()
    assert meta["orchestrator_pid"].value == os.getpid()
    assert meta[STARTED_AT].value == process_start_time(os.getpid())
    submitted = [e for e in events if (e.message or "").startswith("Submitted step")]
    assert [(e.step_key, e.engine_event_data.metadata["job_name"].value) for e in submitted] == [
        ("noop", job_name(result.run_id, "noop", 0))
    ]
    job_id = submitted[0].engine_event_data.metadata["submitit_job_id"].value
    post = [e for e in events if (e.message or "").startswith(f"Local job {job_id} of noop")]
    assert len(post) == 1 and post[0].engine_event_data.metadata["job_finished"].value is True


# ------------------------------------------------------------------ 3. asset backfills


def _targets() -> set[seam.AssetKeyPartitionKey]:
    return {seam.AssetKeyPartitionKey(AssetKey("letters"), k) for k in "abcde"} | {
        seam.AssetKeyPartitionKey(AssetKey("summary"), None)
    }


def test_the_runs_a_backfill_becomes_follow_the_backfill_policies(instance):
    graph = defs.resolve_asset_graph()
    assert isinstance(graph, seam.AssetGraph)
    with partition_loading_context(dynamic_partitions_store=instance):
        requests = seam.backfill_run_requests(_targets(), graph, instance)
    ranges = sorted(
        (
            tuple(k.to_user_string() for k in r.asset_selection or []),
            r.tags.get(seam.ASSET_PARTITION_RANGE_START_TAG),
            r.tags.get(seam.ASSET_PARTITION_RANGE_END_TAG),
        )
        for r in requests
        if r.partition_key is None and seam.ASSET_PARTITION_RANGE_START_TAG in r.tags
    )
    # five partitions, at most two per run: three runs of letters (the summary waits for them)
    assert ranges == [(("letters",), "a", "b"), (("letters",), "c", "d"), (("letters",), "e", "e")]
    assert seam.ASSET_PARTITION_RANGE_START_TAG == "dagster/asset_partition_range_start"
    assert seam.ASSET_PARTITION_RANGE_END_TAG == "dagster/asset_partition_range_end"


def test_new_backfill_ids_look_like_the_uis():
    ids = {seam.new_backfill_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 8 and set(i) <= set(string.ascii_lowercase) for i in ids)


def test_an_asset_backfill_is_recorded_in_the_instance_as_requested(instance):
    graph = defs.resolve_asset_graph()
    backfill_id = seam.new_backfill_id()
    with partition_loading_context(dynamic_partitions_store=instance):
        backfill = seam.asset_backfill(
            backfill_id, _targets(), graph, instance, "seam test", {"team": "sec"}, timestamp=1234.5
        )
    assert isinstance(backfill, seam.PartitionBackfill)
    instance.add_backfill(backfill)
    stored = instance.get_backfill(backfill_id)
    assert stored is not None and stored.is_asset_backfill
    assert (stored.status, stored.title, stored.tags, stored.backfill_timestamp) == (
        seam.BulkActionStatus.REQUESTED,
        "seam test",
        {"team": "sec"},
        1234.5,
    )
    with partition_loading_context(dynamic_partitions_store=instance):
        target = stored.get_asset_backfill_data(graph).target_subset
        assert set(target.iterate_asset_partitions()) == _targets()
    instance.update_backfill(stored.with_status(seam.BulkActionStatus.CANCELING))
    assert instance.get_backfill(backfill_id).status == seam.BulkActionStatus.CANCELING
    assert seam.BACKFILL_ID_TAG == "dagster/backfill"  # the tag the daemon puts on the backfill's runs


def test_every_name_of_the_seam_is_exercised_here():
    """A name added to the seam comes with its test in this module."""
    source = Path(__file__).read_text()
    untested = [name for name in seam.__all__ if f"seam.{name}" not in source]
    assert untested == [], f"the seam offers {untested} without a test here"
