"""Every error the API answers is JSON with a ``detail`` message.

Validation errors (422) also carry ``errors``: one entry per bad field, each naming
where it was (``["query", "limit"]``) and what is wrong with it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from legato.errors import (
    ObjectNotFound,
    ParameterSchemaError,
    ParameterValidationError,
    RunTakenBack,
    ScheduleError,
    StoreError,
)
from legato.server.dependencies import STATE_FILTER_PATTERN, UUID_PATTERN
from legato.states import STATE_NAMES, StateType


class ErrorBody(BaseModel):
    """The body of every error response."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """The body of a 422: a readable summary plus each bad field."""

    detail: str
    errors: list[FieldError]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "The request body cannot be parsed (not UTF-8), or the Host header "
        "names a host this server does not answer to.",
    },
    403: {
        "model": ErrorBody,
        "description": "A change (POST, PUT, PATCH, DELETE) from a page of another site (its "
        "Origin), or sent without 'Content-Type: application/json', an Authorization header "
        "or a same-origin Origin; or a read-only API key asking for a change.",
    },
    404: {"model": ErrorBody, "description": "No such run."},
    413: {"model": ErrorBody, "description": "The request body is too large."},
    422: {"model": ValidationErrorBody, "description": "A parameter or body field is invalid."},
}

_PLACES = {"path": "path parameter", "query": "query parameter", "body": "body field"}


def _where(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "request"
    place = _PLACES.get(str(loc[0]))
    if place is None:
        return ".".join(str(part) for part in loc)
    if len(loc) == 1:
        return "body" if loc[0] == "body" else place
    return f"{place} {'.'.join(str(part) for part in loc[1:])!r}"


def _message(error: dict[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error.get("type") == "string_pattern_mismatch" and ctx.get("pattern") == UUID_PATTERN:
        return "must be a UUID (like 0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e)"
    if (
        error.get("type") == "string_pattern_mismatch"
        and ctx.get("pattern") == STATE_FILTER_PATTERN
    ):
        return (
            f"unknown state {error.get('input')!r}; use a state type "
            f"({', '.join(t.value for t in StateType)}) or a state name ({', '.join(STATE_NAMES)})"
        )
    return str(error.get("msg", "invalid"))


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(
            loc=[part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            msg=_message(error),
            type=str(error.get("type", "value_error")),
        )
        for error in exc.errors()
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    detail = "; ".join(f"{_where(tuple(e.loc))}: {e.msg}" for e in errors) or "invalid request"
    body = ValidationErrorBody(detail=detail, errors=errors)
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _refused_value(request: Request, exc: Exception) -> JSONResponse:
    """A value the schema allows but legato's rules refuse: a parameter the flow's
    signature rejects, a cron field out of range, an unknown time zone."""
    where: list[str | int] = ["body"]
    if isinstance(exc, ParameterValidationError):
        where.append("parameters")
    elif isinstance(exc, ParameterSchemaError):
        where.append("parameter_schema")
    body = ValidationErrorBody(
        detail=str(exc), errors=[FieldError(loc=where, msg=str(exc), type="value_error")]
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


async def _taken_back(request: Request, exc: Exception) -> JSONResponse:
    """A worker's run process whose run is no longer its own: it must stop (the header
    tells its client so, whatever the wording)."""
    from legato.attempts import TAKEN_BACK_HEADER

    return JSONResponse({"detail": str(exc)}, status_code=409, headers={TAKEN_BACK_HEADER: "true"})


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"the store failed: {exc}"}, status_code=503)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": f"internal server error ({type(exc).__name__})"}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ObjectNotFound, _not_found)
    app.add_exception_handler(ParameterValidationError, _refused_value)
    app.add_exception_handler(ScheduleError, _refused_value)
    app.add_exception_handler(ParameterSchemaError, _refused_value)
    app.add_exception_handler(RunTakenBack, _taken_back)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(Exception, _internal_error)
