"""The one Dagster resource, ``sec``: every setting of :class:`~sec_assets.core.settings.Settings`,
overridable per run (launchpad or ``--config``).

Nothing is declared twice: the resource's fields are generated from the settings' fields (name,
default, description), with types Dagster's config system can show (paths as strings, pairs as
lists, numeric choices as numbers); string choices stay choices in the launchpad. The values are
then validated by :class:`Settings` itself, so a bad launchpad value fails with the setting's name
and the allowed values, exactly as a bad YAML or environment value does. Assets read
``sec.settings`` (typed, validated) and never the raw fields.
"""

from __future__ import annotations

import functools
import json
import os
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import pydantic
from dagster import ConfigurableResource, InitResourceContext
from pydantic import model_validator

from sec_assets.core.settings import Settings, load_settings, validated
from sec_assets.executor.protocol import install_time_limit_handler

# fixed when the code location loads (they define the partitions and the backfill policies), so
# not per-run settings
NOT_PER_RUN = ("octaves", "classes_per_run")


class SecResourceBase(ConfigurableResource):
    """Where data lives and how it is processed (the fields are added from the settings below)."""

    @model_validator(mode="after")
    def _validate_as_settings(self) -> SecResourceBase:
        self.settings  # noqa: B018 -- raises SettingsError naming the setting
        return self

    @property
    def settings(self) -> Settings:
        return _settings_of(self)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SecResourceBase:
        """The resource holding these settings (default: defaults ← YAML ← environment).

        They are the *defaults* of its config schema, not just instance values: Dagster replaces
        the instance's values by the schema defaults when a run overrides some fields, so a
        launchpad override of one setting keeps every other setting as loaded (and the
        launchpad shows the loaded values)."""
        values = config_values(settings or load_settings())
        return _resource_class(json.dumps(values, sort_keys=True))(**values)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Under the submitit executor (a Slurm job), turn the wrapper's time-limit signal into a
        stop request in the step (see :mod:`sec_assets.executor.protocol`)."""
        install_time_limit_handler()

    @property
    def home_path(self) -> Path:
        return self.settings.home

    @property
    def audio_root_path(self) -> Path:
        return self.settings.landing

    @property
    def models_path(self) -> Path:
        return self.settings.model_store

    def cpu_count(self) -> int:
        """CPUs this process may use: ``torch_threads``, else Slurm's allocation, else the affinity mask."""
        if self.settings.torch_threads > 0:
            return self.settings.torch_threads
        slurm = os.environ.get("SLURM_CPUS_PER_TASK")
        if slurm and slurm.isdigit():
            return int(slurm)
        return max(1, len(os.sched_getaffinity(0)))


def _settings_of(resource: ConfigurableResource) -> Settings:
    values = {name: getattr(resource, name) for name in Settings.model_fields if name not in NOT_PER_RUN}
    return validated(values, {k: "the sec resource's config" for k in values})


def _to_config_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _config_annotation(annotation: Any) -> Any:
    """A settings type → one Dagster's config can show; Settings validates the value afterwards."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Path:
        return str
    if origin is Literal:
        return annotation if all(isinstance(a, str) for a in args) else type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return str  # structured settings (dataset_columns) travel as JSON
    if origin is tuple and isinstance(args[0], type) and issubclass(args[0], pydantic.BaseModel):
        return str  # structured settings (candidates) travel as JSON
    if origin is tuple:
        return list[args[0]]  # type: ignore[valid-type]  # (float, float) → [float, float]
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _config_annotation(rest[0]) | None
        return str  # e.g. channel: "mean" or an index
    if origin is typing.Annotated:
        return _config_annotation(args[0])
    return annotation


def config_values(settings: Settings) -> dict[str, Any]:
    """The settings as the resource's config values (paths as strings, pairs as lists)."""
    values = {k: _to_config_value(v) for k, v in settings.model_dump(exclude=set(NOT_PER_RUN)).items()}
    for name, value in values.items():  # e.g. channel 1 → "1" where the config type is a string
        if value is not None and _config_annotation(Settings.model_fields[name].annotation) is str:
            values[name] = json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else str(value)
    return values


@functools.lru_cache(maxsize=32)
def _resource_class(defaults_json: str) -> type[SecResourceBase]:
    """``SecResource`` with these settings as its config defaults (one class per distinct settings)."""
    defaults = json.loads(defaults_json)
    fields: dict[str, Any] = {
        name: (
            _config_annotation(info.annotation),
            pydantic.Field(default=defaults[name], description=info.description),
        )
        for name, info in Settings.model_fields.items()
        if name not in NOT_PER_RUN
    }
    return pydantic.create_model(
        "SecResource",
        __base__=SecResourceBase,
        __module__=__name__,
        __doc__=SecResourceBase.__doc__,
        **fields,
    )


if TYPE_CHECKING:
    SecResource = SecResourceBase
else:
    # the class with the built-in defaults; from_settings() gives one with the loaded settings
    SecResource = _resource_class(json.dumps(config_values(Settings()), sort_keys=True))
