"""The OpenAPI 3 document of the RAPI, built from the route table (so it cannot drift)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganeti.rapi.base import ANON, PATH_VARS, Route

OPENAPI_PATH = "/2/openapi.json"

_ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "explain": {"type": "string"},
    },
    "required": ["code", "message", "explain"],
}

_RETURNS: dict[str, dict[str, Any]] = {
    "job": {"type": "integer", "description": "job id", "minimum": 0},
    "null": {"nullable": True, "enum": [None]},
    "int": {"type": "integer"},
    "list": {"type": "array", "items": {}},
    "object": {"type": "object", "additionalProperties": True},
    "string": {"type": "string"},
    "any": {},
}

_BODY: dict[str, dict[str, Any]] = {
    "object": {"type": "object", "additionalProperties": True},
    "string": {"type": "string"},
    "any": {},
}


def _query_schema(kind: str, enum: Sequence[str]) -> dict[str, Any]:
    if kind == "bool":
        return {"type": "integer", "enum": [0, 1]}
    if kind == "int":
        return {"type": "integer"}
    if kind == "float":
        return {"type": "number"}
    if kind == "list":
        return {"type": "array", "items": {"type": "string"}}
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = list(enum)
    return schema


def _access_text(r: Route) -> str:
    if r.access == ANON:
        return "anonymous (unless the daemon requires authentication)"
    return "needs one of: " + ", ".join(sorted(r.access))


def operation(r: Route) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    for var in r.path_vars:
        pattern = PATH_VARS.get(var)
        schema: dict[str, Any] = {"type": "string"}
        if pattern is not None:
            schema["pattern"] = pattern.pattern
        params.append({"name": var, "in": "path", "required": True, "schema": schema})
    for q in r.query:
        entry: dict[str, Any] = {
            "name": q.name,
            "in": "query",
            "required": q.required,
            "schema": _query_schema(q.kind, q.enum),
        }
        if q.doc:
            entry["description"] = q.doc
        if q.kind == "list":
            entry["explode"] = True
        params.append(entry)
    op: dict[str, Any] = {
        "operationId": f"{r.method.lower()}_{r.handler.__name__}",
        "summary": r.summary,
        "description": f"Access: {_access_text(r)}."
        + (" Extension (not in Ganeti)." if r.extension else ""),
        "parameters": params,
        "responses": {
            "200": {
                "description": "job id" if r.returns == "job" else "result",
                "content": {"application/json": {"schema": _RETURNS[r.returns]}},
            },
            "default": {
                "description": "error",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
        "x-access": sorted(r.access),
    }
    if r.body != "none":
        op["requestBody"] = {
            "required": r.body_required,
            "content": {"application/json": {"schema": _BODY[r.body]}},
        }
    if r.access != ANON:
        op["security"] = [{"basic": []}, {"bearer": []}]
    else:
        op["security"] = [{}, {"basic": []}, {"bearer": []}]
    return op


def openapi_document(routes: Sequence[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.openapi_path, {})[r.method.lower()] = operation(r)
    paths[OPENAPI_PATH] = {
        "get": {
            "operationId": "get_openapi",
            "summary": "This document",
            "parameters": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3 document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
            "security": [{}],
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Ganeti Remote API",
            "version": "2",
            "description": (
                "Ganeti RAPI version 2, wire-compatible with Ganeti, plus documented "
                "extensions. Errors are {code, message, explain}."
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {"Error": _ERROR},
        },
        "paths": paths,
    }
