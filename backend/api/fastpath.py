"""Compiled parameter resolution: FastAPI's results, without its per-request generic machinery.

FastAPI solves a route's dependency tree on every request by introspecting it again (aliases,
sequence checks, cache keys, scopes): on this machine that was a third of a simple request's
CPU. `compile_route` walks the tree once, at start-up, and returns a resolver that reads each
path, query and header parameter straight from the request, validates it with the very
`ModelField` FastAPI built for it, and calls the route's (async, non-generator) dependencies.

Only the success path is compiled. When a value is missing or invalid, the resolver returns
None and the route hands the request to FastAPI's own handler, so every 422 (its wording and
`loc`) is FastAPI's. Routes using anything this does not model (cookies, forms, sequences,
param models, background tasks, sync or generator dependencies) are never compiled.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from copy import deepcopy
from typing import Any

from fastapi import params
from fastapi._compat import ModelField
from fastapi._compat.shared import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from starlette.requests import Request

# What a compiled step does with (request, body, per-request dependency cache).
Resolver = Callable[[Request, Any, dict[Any, Any]], Awaitable[dict[str, Any] | None]]
_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset)


class Unsupported(Exception):
    """The route uses a feature the compiled path does not model."""


def _param_reader(field: ModelField, source: str) -> Callable[[Request], tuple[bool, Any]]:
    info = field.field_info
    if (
        not isinstance(info, params.Param)
        or info.validation_alias is not None
        or field_annotation_is_sequence(info.annotation)
        or (field.config or {}).get("populate_by_name")
        or (field.config or {}).get("validate_by_name")
    ):
        raise Unsupported(field.name)
    key, loc = field.alias, (source, field.alias)
    required, validate_default = info.is_required(), bool(info.validate_default)
    default = field.default
    copy_default = not isinstance(default, _IMMUTABLE)

    def read(values: Any) -> tuple[bool, Any]:
        raw = values.get(key)
        if raw is None:
            if required:
                return False, None
            value = deepcopy(default) if copy_default else default
            if not validate_default:
                return True, value
            raw = value
        value, errors = field.validate(raw, {}, loc=loc)
        return (False, None) if errors else (True, value)

    if source == "path":
        return lambda request: read(request.path_params)
    if source == "query":
        return lambda request: read(request.query_params)
    if source == "header":
        return lambda request: read(request.headers)
    raise Unsupported(source)


def _compile(dependant: Dependant, body_field: ModelField | None) -> Resolver:
    if (
        dependant.cookie_params
        or dependant.websocket_param_name
        or dependant.background_tasks_param_name
        or dependant.response_param_name
        or dependant.security_scopes_param_name
    ):
        raise Unsupported(dependant.name or "dependant")
    readers = [
        (f.name, _param_reader(f, source))
        for source, fields in (
            ("path", dependant.path_params),
            ("query", dependant.query_params),
            ("header", dependant.header_params),
        )
        for f in fields
    ]
    body_name = None
    if dependant.body_params:
        if (
            body_field is None
            or len(dependant.body_params) != 1
            or dependant.body_params[0].name != body_field.name
            or isinstance(body_field.field_info, params.Form)
        ):
            raise Unsupported("body")
        body_name = body_field.name
    subs: list[tuple[str | None, Callable[..., Any], Resolver, bool]] = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is None or not inspect.iscoroutinefunction(call):
            raise Unsupported(getattr(call, "__name__", "dependency"))
        subs.append((sub.name, call, _compile(sub, None), sub.use_cache))
    connection_names = [
        n for n in (dependant.request_param_name, dependant.http_connection_param_name) if n
    ]

    async def resolve(request: Request, body: Any, cache: dict[Any, Any]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for name, call, sub_resolve, use_cache in subs:
            if use_cache and call in cache:
                result = cache[call]
            else:
                kwargs = await sub_resolve(request, body, cache)
                if kwargs is None:
                    return None
                result = await call(**kwargs)
                if use_cache:
                    cache[call] = result
            if name is not None:
                values[name] = result
        for name, read in readers:
            ok, value = read(request)
            if not ok:
                return None
            values[name] = value
        if body_name is not None:
            if body_field is None or body is None:
                return None
            value, errors = body_field.validate(body, {}, loc=("body",))
            if errors:
                return None
            values[body_name] = value
        for name in connection_names:
            values[name] = request
        return values

    return resolve


def compile_route(
    dependant: Dependant, body_field: ModelField | None, embed_body: bool
) -> Resolver | None:
    """A resolver for the endpoint's keyword arguments, or None when the route is not supported."""
    if embed_body:
        return None
    try:
        return _compile(dependant, body_field)
    except Unsupported:
        return None
