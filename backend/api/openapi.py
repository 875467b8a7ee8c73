"""The OpenAPI document: FastAPI's, plus what FastAPI cannot derive from the routes.

- the bearer scheme the routes reference (see ApiRoute) and the problem schemas;
- the headers the server checks itself (If-Match, Idempotency-Key): their dependencies take
  them as optional strings so that they can answer 400/412/428 rather than FastAPI's 422, and
  declare, with `documents_header`, what the server really requires. Each such header is
  stated here as declared (required or not, its pattern), on every operation that depends on
  it, directly or through other dependencies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from backend.api.auth import SECURITY_SCHEMES
from backend.api.deps import HeaderContract, header_contract
from backend.api.docs import problem_schemas


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at `/openapi.json` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    components.setdefault("schemas", {}).update(problem_schemas())
    apply_header_contracts(schema, app.routes)
    return schema


def header_contracts(route: APIRoute) -> list[HeaderContract]:
    """The header contracts of every dependency the route's endpoint depends on."""
    found: list[HeaderContract] = []
    for dependant in _dependants(route.dependant):
        contract = header_contract(dependant.call)
        if contract is not None and contract not in found:
            found.append(contract)
    return found


def apply_header_contracts(document: dict[str, Any], routes: list[BaseRoute]) -> None:
    paths = document.get("paths", {})
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        contracts = header_contracts(route)
        if not contracts:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            for contract in contracts:
                _state(operation, contract)


def _state(operation: dict[str, Any], contract: HeaderContract) -> None:
    parameters = operation.setdefault("parameters", [])
    for parameter in parameters:
        if parameter.get("in") == "header" and parameter["name"].lower() == contract.name.lower():
            break
    else:
        parameter = {"in": "header"}
        parameters.append(parameter)
    parameter.update(
        name=contract.name,
        required=contract.required,
        schema=dict(contract.schema),
        description=contract.description,
    )


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependants(sub)
