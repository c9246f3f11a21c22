"""The error types and the one JSON error shape: {"error": {"status", "code", "message"}} (its OpenAPI schema:
app.web.schemas.ErrorResponse; the handlers that write it: app.web.errors)."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error a person can act on; ``status`` is the HTTP status it maps to."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def not_found(message: str) -> AppError:
    return AppError(404, "not_found", message)


def bad_input(message: str, status: int = 422, code: str = "invalid_input") -> AppError:
    return AppError(status, code, message)


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message}}
