"""A request as a route handler sees it (user, params, body, path arguments) and the JSON answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from starlette.responses import Response

from dolirelance.testing import fake_versions
from dolirelance.testing.fake.records import (
    ApiError,
    UserRecord,
    error_body,
)
from dolirelance.testing.fake.store import FakeDolibarr
from dolirelance.testing.fake_versions import FakeVersion


@dataclass
class Call:
    fake: FakeDolibarr
    user: UserRecord
    params: dict[str, str]
    body: Any
    path_args: tuple[str, ...]
    method: str

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def int_param(self, name: str, default: int) -> int:
        raw = self.params.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(str(raw))
        except ValueError as exc:
            raise ApiError(
                400,
                f"Invalid value specified for `{name}`. Expecting integer value",
                stage="validate",
                source="Validator.php:718",
            ) from exc

    def require(self, *rights: str, any_of: bool = False) -> None:
        granted = [self.user.has_right(right) for right in rights]
        if (any(granted) if any_of else all(granted)) or self.user.admin:
            return
        raise ApiError(403, source="api_access.class.php:0")

    def require_admin(self) -> None:
        if not self.user.admin:
            raise self.refused("api_setup.class.php:0")

    def refused(self, source: str) -> ApiError:
        """Dolibarr's 403 when this user may not see the object (or use the route)."""
        return ApiError(403, f"Access not allowed for login {self.user.login}", source=source)


Handler = Callable[[Call], Any]


def json_response(value: Any, status: int = 200) -> Response:
    payload = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Response(payload, status_code=status, media_type="application/json")


def error_response(error: ApiError, version: FakeVersion) -> Response:
    source = fake_versions.moved_source(version, error.source)
    return json_response(error_body(error.status, error.text, source, error.stage, error.extra), error.status)


def body_dict(call: Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    if not isinstance(call.body, dict):
        raise ApiError(400, "Bad Request: body must be an object", stage="validate", source="Validator.php:0")
    return call.body


def record_fields(body: Mapping[str, Any], record_type: type[Any], *left_out: str) -> dict[str, Any]:
    """The keys of a POSTed ``body`` that are fields of ``record_type`` (others are ignored, as PHP does)."""
    known = {record_field.name for record_field in fields(record_type)}
    return {key: value for key, value in body.items() if key in known and key not in left_out}
