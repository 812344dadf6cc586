"""/api/v1/openapi.json: valid OpenAPI 3.1, public, and true to the app's routes and answers."""
from __future__ import annotations

import re

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from tests.api.conftest import event_body

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/openapi.json")  # no token: the description is public
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def schema_validator(spec: dict, name: str) -> OAS31Validator:
    """A validator for components/schemas/<name>, resolving $refs inside the document."""
    return OAS31Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]},
                          format_checker=OAS31Validator.FORMAT_CHECKER)


def assert_valid(spec: dict, name: str, instance) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema_validator(spec, name).iter_errors(instance)]
    assert not errors, f"{name}: " + "; ".join(errors)


def test_the_document_is_valid_openapi_3_1(spec):
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearer"]["description"]}
    assert spec["security"] == [{"bearer": []}]
    assert {"Event", "TicketType", "Error"} <= set(spec["components"]["schemas"])


def test_its_paths_are_exactly_the_apps_api_routes(app, spec):
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - IGNORED_METHODS)
    documented = {path: set(ops) for path, ops in spec["paths"].items()}

    assert documented == routes
    assert "/api/v1/events/{slug}/ticket-types/{ticket_type_id}" in documented


def test_every_operation_documents_its_answers(spec):
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op.get("operationId") and op.get("summary"), where
            codes = set(op["responses"])
            if op.get("security") == []:
                assert path == "/api/v1/openapi.json"
                continue
            assert "401" in codes, where
            if "{slug}" in path:
                assert {"403", "404"} <= codes, where
            if method in ("post", "patch"):
                assert {"400", "415", "422"} <= codes, where
                assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"], where
                success = "201" if method == "post" else "200"
            else:
                success = "200"
            assert success in codes, where
            assert "$ref" in str(op["responses"][success]["content"]["application/json"]["schema"]), where
    post_event = spec["paths"]["/api/v1/events"]["post"]["responses"]
    assert post_event["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Event"}
    post_tt = spec["paths"]["/api/v1/events/{slug}/ticket-types"]["post"]["responses"]
    assert post_tt["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TicketType"}


def test_the_request_schemas_say_what_the_api_accepts(spec):
    create = spec["components"]["schemas"]["EventCreate"]
    assert set(create["required"]) == {"title", "starts_at", "ends_at", "timezone"}
    assert create["properties"]["status"]["enum"] == ["draft", "published"]
    assert spec["components"]["schemas"]["EventUpdate"]["properties"]["status"]["enum"] == [
        "draft", "published", "cancelled"]
    assert_valid(spec, "EventCreate", event_body(organization="my-org", venue_address="1 Main St"))
    assert list(schema_validator(spec, "EventCreate").iter_errors(event_body(colour="red")))
    assert list(schema_validator(spec, "EventCreate").iter_errors(event_body(capacity="10")))
    assert set(spec["components"]["schemas"]["TicketTypeCreate"]["required"]) == {"name", "price_cents", "capacity"}


def test_real_answers_match_their_documented_schemas(api, spec):
    created = api.post("/api/v1/events", event_body(status="published", capacity=200,
                                                    registration_opens_at="2027-01-01T09:00:00+01:00"))
    slug = created.get_json()["slug"]
    tt = api.post(f"/api/v1/events/{slug}/ticket-types",
                  {"name": "GA", "price_cents": 1500, "capacity": 100, "sales_end": "2027-03-07T00:00:00Z"})
    patched = api.patch(f"/api/v1/events/{slug}", {"title": "Renamed"})

    assert_valid(spec, "Event", created.get_json())
    assert_valid(spec, "TicketType", tt.get_json())
    assert_valid(spec, "Event", patched.get_json())
    assert_valid(spec, "Event", api.get(f"/api/v1/events/{slug}").get_json())
    assert_valid(spec, "EventList", api.get("/api/v1/events").get_json())
    assert_valid(spec, "TicketTypeList", api.get(f"/api/v1/events/{slug}/ticket-types").get_json())
    assert api.get(f"/api/v1/events/{slug}").get_json()["ticket_types"][0]["name"] == "GA"

    for bad in (api.post("/api/v1/events", {"title": 1}),
                api.post("/api/v1/events", data="{", content_type="application/json"),
                api.client.get("/api/v1/events"),
                api.get("/api/v1/events/nope")):
        assert bad.status_code in (400, 401, 404, 422)
        assert_valid(spec, "Error", bad.get_json())
