"""The OpenAPI 3 document and the Swagger UI that shows it, offline."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

PUBLIC = {("get", "/api/v1/info"), ("get", "/api/v1/health")}
# Every operation of this slice and the responses it must document.
RESPONSES: dict[tuple[str, str], set[str]] = {
    ("get", "/api/v1/info"): {"200"},
    ("get", "/api/v1/health"): {"200", "503"},
    ("get", "/api/v1/projects"): {"200", "400", "401", "403"},
    ("post", "/api/v1/projects"): {"201", "400", "401", "403"},
    ("get", "/api/v1/projects/{project_id}"): {"200", "400", "401", "403", "404"},
    ("put", "/api/v1/projects/{project_id}"): {"200", "400", "401", "403", "404", "412"},
    ("patch", "/api/v1/projects/{project_id}"): {"200", "400", "401", "403", "404", "412"},
    ("delete", "/api/v1/projects/{project_id}"): {
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "412",
    },
    ("get", "/api/v1/clients"): {"200", "400", "401", "403"},
    ("post", "/api/v1/clients"): {"201", "400", "401", "403", "409"},
    ("get", "/api/v1/clients/{client_id}"): {"200", "400", "401", "403", "404"},
    ("put", "/api/v1/clients/{client_id}"): {"200", "400", "401", "403", "404", "409", "412"},
    ("patch", "/api/v1/clients/{client_id}"): {"200", "400", "401", "403", "404", "409", "412"},
    ("delete", "/api/v1/clients/{client_id}"): {"200", "400", "401", "403", "404", "409", "412"},
    ("get", "/api/v1/users/me"): {"200", "401", "403"},
    ("get", "/api/v1/users"): {"200", "400", "401", "403"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


async def _document(api: TestClient) -> dict[str, Any]:
    response = await api.get("/api/docs/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = await response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


async def test_the_document_is_valid_openapi_3_0_and_needs_no_token(api: TestClient) -> None:
    document = await _document(api)

    assert re.fullmatch(r"3\.0\.\d+", document["openapi"])
    validate(document, cls=OpenAPIV30SpecValidator)
    assert document["info"]["version"] == "v1"


async def test_every_route_of_the_service_is_documented(api: TestClient) -> None:
    documented = set(_operations(await _document(api)))
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in api.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method.lower() in HTTP_METHODS
    }

    assert set(RESPONSES) <= served
    assert served <= documented


async def test_every_operation_documents_its_success_and_error_responses(
    api: TestClient,
) -> None:
    operations = _operations(await _document(api))

    missing = {
        key: sorted(expected - set(operations[key]["responses"]))
        for key, expected in RESPONSES.items()
        if not expected <= set(operations[key]["responses"])
    }
    assert missing == {}


async def test_protected_operations_declare_bearer_and_api_key_security(api: TestClient) -> None:
    document = await _document(api)

    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    for key, operation in _operations(document).items():
        if key in PUBLIC:
            assert operation.get("security", []) == [], key
        elif key[1].startswith("/api/v1/"):
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}], key


async def test_bodies_and_parameters_are_described(api: TestClient) -> None:
    document = await _document(api)
    operations = _operations(document)

    for resource, required in [("projects", "name"), ("clients", "name")]:
        create = operations[("post", f"/api/v1/{resource}")]
        body = _resolve(document, create["requestBody"]["content"]["application/json"]["schema"])
        assert required in body["required"]
        assert body.get("additionalProperties") in (None, False)
        update = operations[("patch", f"/api/v1/{resource}/{{{resource[:-1]}_id}}")]
        patch_body = update["requestBody"]["content"]["application/json"]["schema"]
        assert "name" in _resolve(document, patch_body)["properties"]
        path_parameters = [p for p in update["parameters"] if p["in"] == "path"]
        assert [(p["name"], p["required"]) for p in path_parameters] == [
            (f"{resource[:-1]}_id", True)
        ]
        listing = operations[("get", f"/api/v1/{resource}")]
        query = {p["name"] for p in listing["parameters"] if p["in"] == "query"}
        assert {"page", "per_page", "status"} <= query

    project = _resolve(
        document,
        operations[("post", "/api/v1/projects")]["requestBody"]["content"]["application/json"][
            "schema"
        ],
    )
    assert project["properties"]["hourly_rate"]["type"] == "number"
    assert project["properties"]["billable"]["type"] == "boolean"
    assert project["properties"]["client_id"]["type"] == "integer"


async def test_swagger_ui_is_served_with_local_assets_that_load(api: TestClient) -> None:
    response = await api.get("/api/docs")

    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "/api/docs/openapi.json" in page
    assert re.findall(r"(?i)(?:https?:)?//[a-z0-9.-]+", page) == []
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/api/docs/"), asset
        loaded = await api.get(asset)
        assert loaded.status == 200, asset
        assert len(await loaded.read()) > 0, asset


async def test_swagger_ui_does_not_call_the_online_validator(api: TestClient) -> None:
    page = await (await api.get("/api/docs")).text()

    # Swagger UI otherwise shows a badge loaded from validator.swagger.io for any
    # document not served from localhost.
    assert re.search(r"validatorUrl\s*:\s*(null|\"none\"|'none')", page), page
