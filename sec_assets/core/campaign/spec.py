"""Campaign files: a study of named tasks, each a settings overlay run over the landing folder.

The successor of the predecessor's directives file (``config | format | n_octave`` lines)::

    name: segment_length            # optional: default the file's name
    description: 5-s vs 7-s segments at 1/3 octave
    settings: {seed: 0}             # every task starts from these (over configs/sec.yaml, SEC_*)
    run: {where: local}             # default for every task
    tasks:
      seg5:
        settings: {segment_seconds: 5.0}
        formats: [wav, flac]        # the audio-format filter (setting audio_formats)
        octaves: [3]                # octave partitions this task trains (default: all)
      seg7:
        settings: {segment_seconds: 7.0}
        run:
          where: slurm              # local | slurm
          executor: {account: proj, time_min: 120}   # the submitit executor's config for its runs
          requests: {gpus: 1}       # override every step's request (run tags sec/slurm/<key>)

:func:`load_campaign` checks the whole file and raises :class:`CampaignInvalid` listing every
problem with its line; a valid file gives a :class:`Campaign` whose tasks carry their effective,
validated :class:`~sec_assets.core.settings.Settings`. Each task has its own ``home`` —
``<home>/campaigns/<campaign>/<task>`` — and its own MLflow experiment and registry names, so two
tasks never overwrite each other's outputs; the landing folder, model store and inbox stay the
base settings' ones. Pure: no Dagster.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sec_assets.core.hashing import stable_hex
from sec_assets.core.settings import Settings

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_HELP = "lower-case letters, digits, '_' or '-', starting with a letter or digit (at most 63)"
CAMPAIGN_KEYS = ("name", "description", "settings", "run", "tasks")
TASK_KEYS = ("description", "settings", "formats", "octaves", "run")
RUN_KEYS = ("where", "executor", "requests")
WHERE = ("local", "slurm")
# chosen by the campaign, not by an overlay: the task's home, and the octaves (the task key);
# fixed when the code location loads: the backfill chunk size
RESERVED = {
    "home": "each task's home is <home>/campaigns/<campaign>/<task>",
    "octaves": "use the task's octaves:",
    "classes_per_run": "it is fixed when the code location loads (sec.yaml or SEC_CLASSES_PER_RUN)",
}
REQUEST_TYPES: dict[str, type] = {
    "gpus": int,
    "cpus": int,
    "mem_gb": float,
    "partition": str,
    "time_min": int,
}

Path_ = tuple[str | int, ...]  # a place in the file: keys and list indices from the top
# the executor's own rules for its config (key → problem), given by the shell: core has no Dagster
ExecutorCheck = Callable[[Mapping[str, Any]], dict[str, str]]


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


class CampaignInvalid(ValueError):
    """Every problem of a campaign file, each with its line."""

    def __init__(self, path: Path, problems: list[Problem]):
        self.path, self.problems = path, sorted(problems, key=lambda p: (p.line, p.message))
        lines = "\n".join(f"  {path}:{p.line}: {p.message}" for p in self.problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s)\n{lines}")


@dataclass(frozen=True)
class RunSpec:
    where: str = "local"
    executor: Mapping[str, Any] | None = None  # execution: config: of the runs (slurm)
    requests: Mapping[str, Any] | None = None  # run tags sec/slurm/<key> (slurm)


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    overlay: Mapping[str, Any]  # the campaign's and the task's settings, as written (formats included)
    octaves: tuple[int, ...]
    run: RunSpec
    settings: Settings  # effective: base ← overlay ← the task's home and registry names
    line: int

    @property
    def digest(self) -> str:
        """The task's identity: its effective settings, octaves and where it runs. A changed task
        starts over; runs of an older version no longer count as done."""
        return stable_hex(
            self.settings.model_dump_json(),
            self.octaves,
            self.run.where,
            self.run.executor,
            self.run.requests,
        )


@dataclass(frozen=True)
class Campaign:
    name: str
    description: str
    path: Path
    home: Path  # <home>/campaigns/<name>: the tasks' homes and the campaign catalog
    tasks: tuple[Task, ...]

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise ValueError(
            f"campaign {self.name!r} has no task {name!r}; its tasks: {[t.name for t in self.tasks]}"
        )


def campaign_home(base: Settings, name: str) -> Path:
    return base.home / "campaigns" / name


class _Reader:
    """The file's values with the line of every key, and the problems found on the way."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []

    def load(self) -> Any:
        text = self.path.read_text()
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            self.problems.append(
                Problem(mark.line + 1 if mark else 1, f"not valid YAML: {exc}".split("\n")[0])
            )
            return None
        if node is None:
            return None
        self._walk(node, ())
        return yaml.safe_load(text)

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name, line = str(key.value), key.start_mark.line + 1
                if name in seen:
                    self.problem(
                        (*path, name),
                        f"{_where((*path, name))} is given twice (also line {seen[name]})",
                        line,
                    )
                seen[name] = line
                self.lines[(*path, name)] = line
                self._walk(value, (*path, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def line(self, path: Path_) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def problem(self, path: Path_, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(line or self.line(path), message))

    def mapping(self, value: Any, path: Path_, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"{_where(path)} must be a mapping, got {type(value).__name__}")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.problem(
                        (*path, key),
                        f"unknown key {_where((*path, key))}{_hint(key, allowed)}; allowed: {list(allowed)}",
                    )
        return {str(k): v for k, v in value.items()}


def _where(path: Path_) -> str:
    return "'" + ".".join(str(p) for p in path) + "'" if path else "the file"


def _hint(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_campaign(path: Path, base: Settings, check_executor: ExecutorCheck | None = None) -> Campaign:
    """Read and check a campaign file against the base settings (YAML ← environment) and, when
    given, the executor's rules for ``run.executor``; raises :class:`CampaignInvalid` with every
    problem and its line, or :class:`FileNotFoundError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"campaign file {path} does not exist")
    reader = _Reader(path)
    doc = reader.mapping(reader.load(), (), CAMPAIGN_KEYS)
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not NAME.match(name):
        where = ("name",) if "name" in doc else ()
        reader.problem(
            where,
            f"campaign name {name!r} must be {NAME_HELP}"
            + ("" if where else " (from the file name; set name:)"),
        )
        name = "invalid"
    shared = _overlay(reader, doc.get("settings"), ("settings",))
    check = check_executor or (lambda values: {})
    shared_run = _run(reader, doc.get("run"), ("run",), RunSpec(), check)
    tasks_doc = reader.mapping(doc.get("tasks"), ("tasks",))
    if not tasks_doc and not reader.problems:
        reader.problem(("tasks",), "a campaign needs at least one task under 'tasks:'")
    home = campaign_home(base, name)
    tasks = []
    for task_name, body in tasks_doc.items():
        task = _task(reader, base, home, name, task_name, body, shared, shared_run, check)
        if task is not None:
            tasks.append(task)
    if reader.problems:
        raise CampaignInvalid(path, reader.problems)
    return Campaign(name, str(doc.get("description") or ""), path, home, tuple(tasks))


def _overlay(reader: _Reader, value: Any, path: Path_) -> dict[str, Any]:
    overlay = reader.mapping(value, path)
    for key in list(overlay):
        if key in RESERVED:
            reader.problem((*path, key), f"{_where((*path, key))} cannot be set here: {RESERVED[key]}")
            del overlay[key]
        elif key not in Settings.model_fields:
            reader.problem(
                (*path, key), f"unknown setting {_where((*path, key))}{_hint(key, Settings.model_fields)}"
            )
            del overlay[key]
    return overlay


def _run(
    reader: _Reader, value: Any, path: Path_, default: RunSpec, check_executor: ExecutorCheck
) -> RunSpec:
    body = reader.mapping(value, path, RUN_KEYS)
    where = body.get("where", default.where)
    if "where" in body and where not in WHERE:  # (an inherited one was reported where it is written)
        reader.problem(
            (*path, "where"), f"{_where((*path, 'where'))} must be one of {list(WHERE)}, got {where!r}"
        )
    executor = (
        reader.mapping(body.get("executor"), (*path, "executor")) if "executor" in body else default.executor
    )
    for key, message in check_executor(executor or {}).items():
        reader.problem((*path, "executor", key), f"{_where((*path, 'executor', key))}: {message}")
    requests = (
        reader.mapping(body.get("requests"), (*path, "requests"), tuple(REQUEST_TYPES))
        if "requests" in body
        else default.requests
    )
    for key, raw in (requests or {}).items():
        kind = REQUEST_TYPES.get(key)
        ok = kind is not None and (
            isinstance(raw, str) and raw
            if kind is str
            else isinstance(raw, int | float)
            and not isinstance(raw, bool)
            and raw >= 0
            and (kind is float or float(raw).is_integer())
        )
        if kind is not None and not ok:
            what = (
                "a partition name"
                if kind is str
                else "a whole number >= 0"
                if kind is int
                else "a number >= 0"
            )
            reader.problem(
                (*path, "requests", key), f"{_where((*path, 'requests', key))} must be {what}, got {raw!r}"
            )
    if where == "local" and (body.get("executor") or body.get("requests")):
        reader.problem((*path, "where"), f"{_where(path)}: executor and requests apply to where: slurm only")
    return RunSpec(str(where), executor, requests)


def _task(
    reader: _Reader,
    base: Settings,
    home: Path,
    campaign: str,
    name: Any,
    body: Any,
    shared: Mapping[str, Any],
    shared_run: RunSpec,
    check_executor: ExecutorCheck,
) -> Task | None:
    path: Path_ = ("tasks", name)
    if not NAME.match(str(name)):
        reader.problem(path, f"task name {name!r} must be {NAME_HELP}")
    doc = reader.mapping(body, path, TASK_KEYS)
    overlay = {**shared, **_overlay(reader, doc.get("settings"), (*path, "settings"))}
    if "formats" in doc:
        overlay["audio_formats"] = doc["formats"]
    defined = tuple(base.octaves)
    octaves = doc.get("octaves", list(defined))
    if isinstance(octaves, int):
        octaves = [octaves]
    if (
        not isinstance(octaves, list)
        or not octaves
        or any(not isinstance(n, int) or n not in defined for n in octaves)
    ):
        reader.problem(
            (*path, "octaves"),
            f"{_where((*path, 'octaves'))} must list octave partitions of this code location "
            f"{list(defined)}, got {octaves!r}",
        )
        octaves = list(defined)
    run = _run(reader, doc.get("run"), (*path, "run"), shared_run, check_executor)
    values = {
        **base.model_dump(),
        "audio_root": base.landing,
        "models": base.model_store,
        "inbox": base.inbox_path,
        "mlflow_experiment": f"{base.mlflow_experiment}/{campaign}/{name}",
        "registered_model_prefix": f"{base.registered_model_prefix}-{campaign}-{name}",
        **overlay,
        "home": home / str(name),
    }
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            origin = (
                (*path, "formats")
                if key == "audio_formats" and "formats" in doc
                else (*path, "settings", key)
                if key in (doc.get("settings") or {})
                else ("settings", key)
                if key in shared
                else path
            )
            given = f", got {err['input']!r}" if "input" in err and "got " not in err["msg"] else ""
            reader.problem(origin, f"setting {key!r} of task {name!r}: {err['msg']}{given}")
        return None
    return Task(
        str(name),
        str(doc.get("description") or ""),
        overlay,
        tuple(sorted(set(octaves))),
        run,
        settings,
        reader.line(path),
    )
