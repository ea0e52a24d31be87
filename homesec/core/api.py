"""API plumbing: RFC 7807 problem details for every error."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    detail = data.get("detail") if isinstance(data, dict) else None
    problem = {
        "type": "about:blank",
        "title": getattr(exc, "default_detail", "Error") if detail is None else str(detail),
        "status": response.status_code,
        "detail": str(detail) if detail is not None else "The request was not valid.",
    }
    if detail is None:
        problem["title"] = "Invalid request"
        problem["errors"] = data
    response.data = problem
    response["Content-Type"] = "application/problem+json"
    response.content_type = "application/problem+json"
    return response
