"""The segment geometry a model was trained on, recorded with its MLflow runs.

A model has only seen features of its training segments: ``segment_seconds`` long, cut every
``hop_seconds``, a last partial one kept from ``min_segment_seconds`` (repeat-padded), resampled to
``sample_rate``. ``trained_classifier`` reads that geometry from the ``augmented_segments``
lineage of its classes (:func:`agreed_geometry`: the classes must agree) and logs it as the run
parameters ``segment.<name>`` (:data:`SEGMENT_PARAMS`, :meth:`SegmentGeometry.run_params`) on the
parent run and every candidate's child run; :func:`logged_geometry` reads it back from a registered
version's run, so inference can cut windows of the same shape
(:func:`sec_assets.core.inference.windows.choose_window`). A model trained before this record has
none: ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # MLflow itself is imported on first use (see .store)
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

PREFIX = "segment."  # run parameter ``segment.<name>`` for each name of SEGMENT_PARAMS


@dataclass(frozen=True)
class SegmentGeometry:
    """The shape of a model's training segments (the names of :data:`SEGMENT_PARAMS`)."""

    segment_seconds: float
    hop_seconds: float
    min_segment_seconds: float
    sample_rate: int

    def run_params(self) -> dict[str, str]:
        """The MLflow run parameters that record it: ``segment.<name>`` → value."""
        return {f"{PREFIX}{name}": str(getattr(self, name)) for name in SEGMENT_PARAMS}


# segment_seconds, hop_seconds, min_segment_seconds, sample_rate: the names SegmentParams gives them
SEGMENT_PARAMS: tuple[str, ...] = tuple(f.name for f in fields(SegmentGeometry))


def from_lineage(params: Mapping[str, Any]) -> SegmentGeometry | None:
    """The geometry in an ``augmented_segments`` lineage row's params (``vars(SegmentParams)``),
    or None when it holds none of it (a partition not written by the asset)."""
    if not any(name in params for name in SEGMENT_PARAMS):
        return None
    missing = [name for name in SEGMENT_PARAMS if params.get(name) is None]
    if missing:
        raise ValueError(f"augmented_segments lineage params lack {', '.join(missing)}")
    return SegmentGeometry(
        float(params["segment_seconds"]),
        float(params["hop_seconds"]),
        float(params["min_segment_seconds"]),
        int(params["sample_rate"]),
    )


def agreed_geometry(lineage: Mapping[str, Mapping[str, Any] | None]) -> SegmentGeometry | None:
    """The one geometry the classes' segments were cut with.

    ``lineage``: class key → the params of its ``augmented_segments`` lineage row (None: no row).
    None when no class records a geometry (homes written without the asset's lineage); a
    ValueError naming the classes and their values when they disagree, or when some classes
    record it and others do not (their agreement cannot be checked).
    """
    found = {key: (from_lineage(p) if p is not None else None) for key, p in sorted(lineage.items())}
    known = {key: g for key, g in found.items() if g is not None}
    if not known:
        return None
    unknown = sorted(set(found) - set(known))
    if unknown:
        raise ValueError(
            f"no segment geometry in the augmented_segments lineage of {', '.join(unknown)}, but in "
            f"that of {', '.join(known)}: re-materialize augmented_segments for {', '.join(unknown)}"
        )
    by_geometry: dict[SegmentGeometry, list[str]] = {}
    for key, geometry in known.items():
        by_geometry.setdefault(geometry, []).append(key)
    if len(by_geometry) > 1:
        groups = sorted(by_geometry.items(), key=lambda item: (-len(item[1]), item[1]))
        detail = "; ".join(f"{', '.join(keys)}: {_values(g)}" for g, keys in groups)
        raise ValueError(
            "the classes' segments were cut with different segment settings, a model needs one: "
            f"{detail}. Re-materialize augmented_segments for all of them with the same settings"
        )
    return next(iter(by_geometry))


def from_run_params(params: Mapping[str, str]) -> SegmentGeometry | None:
    """The geometry recorded in a run's params (:meth:`SegmentGeometry.run_params`), None if absent."""
    if any(PREFIX + name not in params for name in SEGMENT_PARAMS):
        return None
    return SegmentGeometry(
        float(params[PREFIX + "segment_seconds"]),
        float(params[PREFIX + "hop_seconds"]),
        float(params[PREFIX + "min_segment_seconds"]),
        int(params[PREFIX + "sample_rate"]),
    )


def logged_geometry(client: MlflowClient, version: ModelVersion) -> SegmentGeometry | None:
    """The training segment geometry of a registered model version (the params of its run,
    ``version.run_id``); None for a version trained before the record, or without a run."""
    if not version.run_id:
        return None
    return from_run_params(client.get_run(version.run_id).data.params)


def _values(geometry: SegmentGeometry) -> str:
    return ", ".join(f"{name}={value}" for name, value in zip(SEGMENT_PARAMS, astuple(geometry), strict=True))
