"""Where runs go: the tracking URI setting, its validation, links, and the cluster warning."""

from pathlib import Path

import pytest

from sec_assets.core.settings import SettingsError, load_settings
from sec_assets.core.tracking.store import cluster_warning, model_link, run_link, ui_base


def test_the_default_store_is_sqlite_under_home_and_the_environment_overrides_it(tmp_path: Path):
    settings = load_settings(env={"SEC_HOME": str(tmp_path)})
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    served = load_settings(env={"SEC_HOME": str(tmp_path), "SEC_MLFLOW_TRACKING_URI": "http://h:5000"})
    assert served.tracking_uri == "http://h:5000"


@pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/mlruns", "mlruns://x", "ftp://host"])
def test_a_bad_tracking_uri_fails_naming_the_setting_and_its_source(uri, tmp_path: Path):
    with pytest.raises(SettingsError) as err:
        load_settings(env={"SEC_HOME": str(tmp_path), "SEC_MLFLOW_TRACKING_URI": uri})
    text = str(err.value)
    assert "setting 'mlflow_tracking_uri' (from SEC_MLFLOW_TRACKING_URI=" in text
    assert "sqlite://, http://, https://, postgresql://, mysql:// URI" in text


def test_links_need_a_ui_url():
    assert ui_base("sqlite:////x/mlflow.db", None) is None
    assert ui_base("sqlite:////x/mlflow.db", "http://ui:5000/") == "http://ui:5000"
    assert ui_base("http://h:5000/", None) == "http://h:5000"
    assert run_link("http://h:5000", "3", "abc") == "http://h:5000/#/experiments/3/runs/abc"
    assert model_link("http://h:5000", "sec-classifier-oct3", "2") == (
        "http://h:5000/#/models/sec-classifier-oct3/versions/2"
    )
    assert run_link(None, "3", "abc") is None


def test_a_slurm_job_on_a_sqlite_store_is_warned():
    sqlite = "sqlite:////shared/sec/mlflow/mlflow.db"
    assert "database is locked" in (cluster_warning(sqlite, {"SLURM_JOB_ID": "7"}) or "")
    assert cluster_warning(sqlite, {}) is None
    assert cluster_warning("http://h:5000", {"SLURM_JOB_ID": "7"}) is None


def test_tracking_binds_tracking_and_registry_and_restores_the_previous_store(tmp_path: Path):
    import mlflow

    from sec_assets.core.tracking.store import tracking

    a, b = (f"sqlite:///{tmp_path / name}.db" for name in ("a", "b"))
    with tracking(a) as client_a:
        client_a.create_registered_model("only-in-a")
        with tracking(b) as client_b:
            assert mlflow.get_registry_uri() == b and client_b._registry_uri == b
            assert [m.name for m in mlflow.MlflowClient().search_registered_models()] == []
        assert mlflow.get_tracking_uri() == a and mlflow.get_registry_uri() == a  # put back
        assert [m.name for m in mlflow.MlflowClient().search_registered_models()] == ["only-in-a"]
