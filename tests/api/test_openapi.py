"""The OpenAPI document: served, and the copy in the repository kept up to date.

After a deliberate change to the API, regenerate the copy and commit it:

    .venv/bin/python manage.py spectacular --file api/openapi.yaml
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command

pytestmark = pytest.mark.django_db

CHECKED_IN = Path(settings.BASE_DIR) / "api" / "openapi.yaml"


def test_the_checked_in_document_is_the_api(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated), "--fail-on-warn", "--validate")
    assert generated.read_text() == CHECKED_IN.read_text(), (
        "The API has changed: if that was meant, run "
        "`.venv/bin/python manage.py spectacular --file api/openapi.yaml` and commit it."
    )


def test_the_document_is_served_without_a_token(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/v1/episodes/",
        "/api/v1/episodes/{id}/",
        "/api/v1/episodes/{id}/risk-gradings/",
        "/api/v1/episodes/{id}/return/",
        "/api/v1/episodes/{id}/safe-and-well-check/",
        "/api/v1/children/{la_child_id}/",
        "/api/v1/events/",
    }
    assert document["components"]["securitySchemes"]["systemToken"]["scheme"] == "bearer"
    problem = document["paths"]["/api/v1/episodes/"]["post"]["responses"]["422"]
    assert "application/problem+json" in problem["content"]
