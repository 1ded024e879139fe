"""What a client generator or a link-following tool needs from the OpenAPI document: every
operation and parameter described, ids, formats and enums, 415 documented, PUT described as
the partial update it is, and links from each create to the operations on the new id."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.test_openapi import HTTP_METHODS, _document, _operations, _resolve


async def test_the_api_as_a_whole_and_every_operation_parameter_and_response_are_described(
    api: TestClient,
) -> None:
    document = await _document(api)
    assert len(document["info"]["description"]) > 500
    ids = []
    for (method, path), operation in _operations(document).items():
        where = f"{method} {path}"
        ids.append(operation["operationId"])
        assert len(operation["description"]) > 15, where
        for parameter in operation.get("parameters", []):
            assert len(parameter.get("description", "")) > 10, (where, parameter)
        for status, response in operation["responses"].items():
            assert response["description"], (where, status)
        if "requestBody" in operation:
            assert "415" in operation["responses"], where
        if method == "put":
            assert "partial update, the same as `PATCH`" in operation["description"], where
    assert len(ids) == len(set(ids)), sorted(ids)


async def test_formats_and_enums_are_given(api: TestClient) -> None:
    document = await _document(api)
    operations = _operations(document)
    status = next(
        p for p in operations[("get", "/api/v1/projects")]["parameters"] if p["name"] == "status"
    )
    assert status["schema"]["enum"] == ["active", "on_hold", "archived"]
    as_of = next(
        p
        for p in operations[("get", "/api/v1/projects/{project_id}")]["parameters"]
        if p["name"] == "as_of"
    )
    assert as_of["schema"]["format"] == "date-time"
    schemas = document["components"]["schemas"]
    client_fields = _resolve(document, schemas["CreateClientRequest"])["properties"]
    assert client_fields["email"]["format"] == "email"
    entry = _resolve(document, schemas["Entry"])["properties"]
    assert entry["start_time"]["format"] == "date-time"


async def test_each_create_links_to_every_operation_on_the_new_id(api: TestClient) -> None:
    document = await _document(api)
    operations = _operations(document)
    by_id = {op["operationId"]: (method, path) for (method, path), op in operations.items()}
    creates = {
        path: op
        for (method, path), op in operations.items()
        if method == "post" and "{" not in path and "201" in op["responses"]
    }
    for resource, key in (
        ("/api/v1/projects", "project"),
        ("/api/v1/clients", "client"),
        ("/api/v1/tasks", "task"),
        ("/api/v1/time-entries", "time_entry"),
    ):
        links = creates[resource]["responses"]["201"]["links"]
        linked = {by_id[link["operationId"]] for link in links.values()}
        item = next(p for m, p in operations if re.fullmatch(re.escape(resource) + r"/\{\w+\}", p))
        parameter = item.rsplit("{", 1)[1].rstrip("}")
        for method in HTTP_METHODS:
            if (method, item) in operations:
                assert (method, item) in linked, (resource, method)
        for link in links.values():
            assert link["parameters"] == {parameter: f"$response.body#/{key}/id"}, link
        # ...and on from the item itself: get -> update -> delete.
        got = operations[("get", item)]["responses"]["200"]["links"]
        assert {by_id[link["operationId"]][0] for link in got.values()} >= {"put", "delete"}


async def test_info_lists_every_endpoint_group(api: TestClient) -> None:
    response = await api.get("/api/v1/info")
    assert response.status == 200
    endpoints: dict[str, Any] = (await response.json())["endpoints"]
    for route in api.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if not path.startswith("/api/v1/") or path == "/api/v1/info":
            continue
        assert any(path == url or path.startswith(url + "/") for url in endpoints.values()), path
    for name in ("projects", "clients", "tasks", "time-entries", "timer", "reports", "events"):
        assert endpoints[name] == f"/api/v1/{name}"
