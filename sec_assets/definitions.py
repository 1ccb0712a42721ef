"""Dagster entry point: ``dagster asset materialize -m sec_assets.definitions …``."""

from __future__ import annotations

from dagster import Definitions

from sec_assets.assets import ALL_ASSETS
from sec_assets.resources import SecResource
from sec_assets.sensors import class_features_job, landing_folder_sensor

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[class_features_job],
    sensors=[landing_folder_sensor],
    resources={"sec": SecResource.from_settings()},
)
