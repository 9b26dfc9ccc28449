"""The ``wandb-artifact`` Asset URI scheme: normalization through Airflow's own Asset, and malformed URIs."""

from __future__ import annotations

import pytest

from airflow_wandb_launch.assets import ArtifactRef, create_asset, parse_uri

NORMALIZED = [
    ("wandb-artifact://acme/proj/model", "wandb-artifact://acme/proj/model"),
    ("WANDB-ARTIFACT://acme/proj/model", "wandb-artifact://acme/proj/model"),
    ("wandb-artifact://acme/proj/model/", "wandb-artifact://acme/proj/model"),
    ("wandb-artifact://acme/proj/model:latest", "wandb-artifact://acme/proj/model"),
    ("wandb-artifact://acme/proj/model#frag", "wandb-artifact://acme/proj/model"),
    ("wandb-artifact://acme/proj/model:production", "wandb-artifact://acme/proj/model:production"),
    ("wandb-artifact://acme/proj/model:v3", "wandb-artifact://acme/proj/model:v3"),
    ("wandb-artifact://acme/proj/model:V03", "wandb-artifact://acme/proj/model:v3"),
    ("wandb-artifact://Acme/My.Proj/Model_1-a", "wandb-artifact://Acme/My.Proj/Model_1-a"),
    ("wandb-artifact://acme/wandb-registry-model/churn", "wandb-artifact://acme/wandb-registry-model/churn"),
]

MALFORMED = [
    ("wandb-artifact://acme/model", "names 2 of entity, project and name"),
    ("wandb-artifact://acme", "names 1 of entity, project and name"),
    ("wandb-artifact://acme/proj/model/extra", "names 4 of entity, project and name"),
    ("wandb-artifact:///proj/model", "names 2 of entity, project and name"),
    ("wandb-artifact://acme//model", "names 2 of entity, project and name"),
    ("wandb-artifact://acme/proj/model:", "the ':' is not followed by an alias or version"),
    ("wandb-artifact://acme/proj/mo del", "the name 'mo del' may hold only"),
    ("wandb-artifact://acme/proj/model:a:b", "the alias 'a:b' may hold only"),
    ("wandb-artifact://acme:8080/proj/model", "the entity cannot carry a port"),
    ("wandb-artifact://acme/proj/model?x=1", "a query is not allowed"),
]


@pytest.mark.parametrize(("uri", "expected"), NORMALIZED)
def test_airflow_normalizes_wandb_artifact_uris_through_the_provider(uri, expected):
    from airflow.sdk import Asset

    assert Asset(uri=uri).uri == expected
    assert parse_uri(uri).uri == expected


@pytest.mark.parametrize(("uri", "why"), MALFORMED)
def test_a_malformed_uri_is_a_clear_error(uri, why):
    from airflow.sdk import Asset

    with pytest.raises(ValueError, match="malformed W&B artifact URI") as raised:
        Asset(uri=uri)
    message = str(raised.value)
    assert why in message and "expected wandb-artifact://entity/project/name[:alias|:vN]" in message


def test_parse_uri_rejects_another_scheme():
    with pytest.raises(ValueError, match="is not a wandb-artifact URI"):
        parse_uri("s3://bucket/key")


def test_refs_match_logged_versions_by_collection_alias_or_version():
    logged = {"uri": "wandb-artifact://acme/proj/model:v4", "version": "v4", "aliases": ["latest", "best"]}
    assert ArtifactRef("acme", "proj", "model").matches(logged)
    assert ArtifactRef("acme", "proj", "model", "best").matches(logged)
    assert ArtifactRef("acme", "proj", "model", "v4").matches(logged)
    assert not ArtifactRef("acme", "proj", "model", "v3").matches(logged)
    assert not ArtifactRef("acme", "proj", "model", "production").matches(logged)
    assert not ArtifactRef("acme", "other", "model").matches(logged)
    offline = {"uri": "wandb-artifact://proj/model:latest", "version": "latest", "aliases": ["latest"]}
    assert not ArtifactRef("acme", "proj", "model").matches(offline)


def test_create_asset_is_the_registered_factory():
    asset = create_asset(entity="acme", project="proj", name="model", extra={"team": "ml"})
    assert asset.uri == "wandb-artifact://acme/proj/model" and asset.extra == {"team": "ml"}
    assert create_asset(entity="acme", project="proj", name="model", alias="production").uri.endswith(":production")


def test_the_provider_registers_the_scheme():
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from airflow_wandb_launch.assets import sanitize_uri

    assert ProvidersManagerTaskRuntime().asset_uri_handlers["wandb-artifact"] is sanitize_uri
