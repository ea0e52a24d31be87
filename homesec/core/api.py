"""API plumbing: every error under /api/ is an RFC 7807 problem (application/problem+json),
and the OpenAPI schema says so for every operation.

A problem is `{"type": "about:blank", "title": <the status's phrase>, "status", "detail"}`,
plus `errors` (field -> messages) when the request did not validate. Errors come from:
* DRF's exceptions in API views (problem_exception_handler, REST_FRAMEWORK's handler);
* anything else an API view raises: a 500 problem that says nothing of what went wrong
  (the traceback goes to the log, as Django logs a 500);
* Django itself for /api/ URLs outside DRF (homesec/core/api_views.py: handler404/500 and
  the catch-all route for URLs no API view has).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler, set_rollback

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"
SERVER_ERROR_DETAIL = "Something went wrong on the server; the server's log says what."

request_logger = logging.getLogger("django.request")


def problem(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}


def problem_response(status: int, detail: str) -> JsonResponse:
    """A problem from outside DRF (Django's 404 and 500 handlers, the catch-all route)."""
    return JsonResponse(problem(status, detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


def is_api_path(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DjangoValidationError):
        exc = _bad_request(exc)
    response = exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    data = response.data
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(data, list):  # a ValidationError of messages about the whole request
        body = problem(response.status_code, " ".join(map(str, data)), errors={api_settings.NON_FIELD_ERRORS_KEY: data})
    elif detail is None:  # a ValidationError: field -> messages
        body = problem(response.status_code, "The request was not valid.", errors=data)
    else:
        body = problem(response.status_code, str(detail))
    response.data = body
    response["Content-Type"] = PROBLEM_CONTENT_TYPE
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _bad_request(exc: DjangoValidationError) -> ValidationError:
    """Services check what a serializer cannot (a camera name in use, a snooze in the past, a
    model's full_clean) and raise Django's ValidationError, for the pages and the admin as
    much as for the API: here it is the client's 400, as DRF makes of its own."""
    errors = as_serializer_error(exc)
    if NON_FIELD_ERRORS in errors:
        errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop(NON_FIELD_ERRORS)
    return ValidationError(errors)


def _server_error(exc: Exception, context: dict[str, Any]) -> Response:
    """What DRF leaves to Django (any exception that is not an API error): a 500 problem
    without the exception's text, which may hold anything (a query, a path, a secret)."""
    request = context.get("request")
    django_request = getattr(request, "_request", request)
    path = getattr(django_request, "path", "?")
    # As Django logs an unhandled exception: the same logger, so the same handlers see it.
    request_logger.error(
        "Internal Server Error: %s",
        path,
        exc_info=exc,
        extra={"status_code": 500, "request": django_request},
    )
    set_rollback()
    response = Response(problem(500, SERVER_ERROR_DETAIL), status=500, content_type=PROBLEM_CONTENT_TYPE)
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's log_response: once is enough
    return response


# --- The schema: the problem responses every operation may give --------------------------

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 7807 problem: every error under /api/ is one (application/problem+json).",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Not Found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string", "example": "No Event matches the given query."},
        "errors": {
            "type": "object",
            "additionalProperties": True,
            "description": "400 only: what did not validate, field -> messages.",
        },
    },
    "required": ["type", "title", "status", "detail"],
}
STANDARD_PROBLEMS = {
    "401": "Not signed in: no token or session, or a revoked token.",
    "403": "Signed in, but this role may not do this (viewers read; admins change things).",
    "404": "No such thing, or not one this user may see.",
    "429": "Too many requests: the `Retry-After` header says how many seconds to wait.",
}
WRITE_PROBLEMS = {"400": "The request was not valid: `errors` says what, field by field."}
WRITE_METHODS = ("post", "put", "patch", "delete")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def problem_responses_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: a `Problem` component, and the standard problem
    responses on every operation that does not declare its own."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            # A query's filters, cursor or page size may not validate either: 400 as a body's.
            takes_input = method in WRITE_METHODS or any(
                p.get("in") == "query" for p in operation.get("parameters", [])
            )
            wanted = {**STANDARD_PROBLEMS, **(WRITE_PROBLEMS if takes_input else {})}
            if "requestBody" in operation:
                wanted["415"] = "A body of a type this operation does not take."
            for status, description in wanted.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                # An error a view describes in words only (extend_schema's OpenApiResponse)
                # is a problem too.
                if status[:1] in ("4", "5") and not response.get("content"):
                    response["content"] = content
    return result
