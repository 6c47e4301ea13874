"""The server itself: its status and time zone, its version's quirks and the fallbacks learned, our
company, the extra fields, and logging in for an API key."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote as url_quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from dolirelance.dolibarr import versions, wire
from dolirelance.dolibarr.http import Call, DolibarrHttp, Transport, decode_body, unreachable
from dolirelance.domain import Company, DolibarrStatus, ExtraField
from dolirelance.errors import (
    DolibarrAuthError,
    DolibarrRequestError,
    DolibarrResponseError,
    DolibarrUnavailable,
)

__all__ = ["DEFAULT_TIMEZONE", "ServerSetup", "forget_learned_paths", "login_for_key", "timezone_named"]

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Europe/Paris"

# Paths learned by falling back after the preferred one failed: (API root, version text, feature) → path.
# Kept for the whole process, so every later client of the same server goes straight to what works.
_LEARNED_PATHS: dict[tuple[str, str, str], str] = {}


def forget_learned_paths() -> None:
    """Forget the fallbacks learned so far (tests start each from a clean process state)."""
    _LEARNED_PATHS.clear()


class ServerSetup(DolibarrHttp):
    """What every resource asks first: the server's status, time zone and version quirks; setup routes."""

    _explicit_timezone: ZoneInfo | None  # set by DolibarrClient, like the lock
    _status_lock: asyncio.Lock

    async def status(self) -> DolibarrStatus:
        """``GET /status``: version and (non-production servers) PHP timezone. Cached."""
        if self._status is None:
            async with self._status_lock:
                if self._status is None:
                    route = "GET /status"
                    body = await self._call(Call("GET", "status", route))
                    self._status = wire.parse(wire.WireStatus, body, route).to_domain()
        return self._status

    async def server_timezone(self) -> ZoneInfo:
        """The explicit setting, else what ``/status`` says, else Europe/Paris."""
        if self._explicit_timezone is not None:
            return self._explicit_timezone
        status = await self.status()
        if status.timezone:
            try:
                return ZoneInfo(status.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning(
                    "Dolibarr reports an unknown timezone %r; using %s", status.timezone, DEFAULT_TIMEZONE
                )
        return ZoneInfo(DEFAULT_TIMEZONE)

    async def quirks(self) -> tuple[versions.Quirk, ...]:
        """The known quirks of this server's version (from ``GET /status``)."""
        return versions.quirks_for((await self.status()).version)

    async def _path_for(self, feature: str, quirk: versions.Quirk, usual: str, workaround: str) -> str:
        """The path to use for ``feature``: what was learned in this process, else what the version calls for."""
        status = await self.status()
        learned = _LEARNED_PATHS.get((self.base_url, status.version_text, feature))
        if learned is not None:
            return learned
        return workaround if quirk.applies_to(status.version) else usual

    async def _learn(self, feature: str, path: str, failed_route: str) -> None:
        status = await self.status()
        _LEARNED_PATHS[(self.base_url, status.version_text, feature)] = path
        log.info(
            "Dolibarr %s: %s failed, using %s from now on", status.version_text or "?", failed_route, path
        )

    async def company(self) -> Company:
        """Our own company. Admin only (or the login in API_LOGINS_ALLOWED_FOR_GET_COMPANY)."""
        route = "GET /setup/company"
        try:
            body = await self._call(Call("GET", "setup/company", route, what="company"))
        except DolibarrAuthError as exc:
            raise DolibarrAuthError(
                f"the API user may not read the company details ({exc.message})",
                remedy=(
                    "make the API user admin, or add its login to the Dolibarr constant "
                    "API_LOGINS_ALLOWED_FOR_GET_COMPANY, or fill the [company] table of dolirelance.toml"
                ),
                status_code=exc.status_code,
            ) from None
        return wire.parse(wire.WireCompany, body, route).to_domain()

    async def list_extrafields(self, element_type: str = "propal") -> list[ExtraField]:
        route = "GET /setup/extrafields"
        # the parameter is `type` on Dolibarr 16, `elementtype` later: unknown ones are ignored
        params: dict[str, str | int] = {"elementtype": element_type, "type": element_type}
        body = await self._call(Call("GET", "setup/extrafields", route, params, empty_on_404=True))
        return wire.extrafields_to_domain(body, element_type, route)

    async def create_extrafield(
        self, name: str, label: str, *, field_type: str = "boolean", element_type: str = "propal"
    ) -> None:
        """Create an extra field (Dolibarr 20+, admin). Already there (409) is fine."""
        route = "POST /setup/extrafields/{elementtype}/{attrname}"
        body = {
            "label": label,
            "type": field_type,
            "pos": 100,
            "size": "",
            "required": 0,
            "default": "",
            "param": "",
            "list": "1",
            "perms": "",
            "alwayseditable": 1,
            "printable": 0,
            "totalizable": 0,
            "langfile": "",
            "computed": "",
            "unique": 0,
            "help": "",
        }
        path = f"setup/extrafields/{url_quote(element_type, safe='')}/{url_quote(name, safe='')}"
        try:
            await self._call(Call("POST", path, route, body=body))
        except DolibarrRequestError as exc:
            if exc.status_code != 409:
                raise


def timezone_named(name: str) -> ZoneInfo:
    """The time zone of that name (``[dolibarr] timezone``), or a ValueError saying what to write."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known timezone; use a name like 'Europe/Paris'") from None


async def login_for_key(
    base_url: str,
    login: str,
    password: str,
    *,
    timeout: float = 30.0,
    verify_tls: bool = True,
    transport: Transport | None = None,
) -> str:
    """The API key (``token``) of the Dolibarr user ``login``, through the API's login route.

    Sent as ``POST /login`` with a JSON body, the form of the route Dolibarr also offers: the
    password then stays out of URLs, hence out of Dolibarr's access logs and httpx's request log.
    """
    call = Call("POST", "login", "POST /login", body={"login": login, "password": password})
    root = base_url.rstrip("/")
    try:
        async with httpx.AsyncClient(
            base_url=root + "/",
            headers={"Accept": "application/json"},
            timeout=timeout,
            verify=verify_tls,
            transport=transport,
            follow_redirects=False,
        ) as http:
            response = await http.post(call.path, json=call.body)
    except httpx.TransportError as exc:
        raise unreachable(root, call, exc) from None
    if response.status_code in (401, 403):
        raise DolibarrAuthError(
            "wrong login or password",
            remedy="use your Dolibarr login and password; an administrator can check that the user is active",
            status_code=response.status_code,
        )
    if response.status_code >= 500:
        raise DolibarrUnavailable(
            f"Dolibarr answered {response.status_code} on {call.route}",
            remedy="the server is down or overloaded; try again later",
            status_code=response.status_code,
        )
    if not 200 <= response.status_code < 300:
        raise DolibarrRequestError(
            f"Dolibarr refused {call.route} (HTTP {response.status_code})",
            remedy="check [dolibarr] url: it must end with /api/index.php, with the API REST module enabled",
            status_code=response.status_code,
        )
    answer = decode_body(response, call)
    success = answer.get("success") if isinstance(answer, dict) else None
    token = success.get("token") if isinstance(success, dict) else None
    if not isinstance(token, str) or not token:
        raise DolibarrResponseError(
            "Dolibarr's login answer holds no token",
            remedy="check that the user has an API key allowed (Dolibarr 18 to 23, API REST module enabled)",
            status_code=response.status_code,
        )
    return token
