"""Requests to Dolibarr's REST API: sending, retrying when safe, and turning every failure into a clear error.

Every httpx error and every non-2xx answer becomes a :class:`~dolirelance.errors.DolibarrError`
with a remedy (for a refusal, the right the API user likely lacks). Callers name the transport
with :data:`Transport`, never httpx. See ``shared/dolibarr/API.md`` for the facts this relies on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeAlias

import httpx
from pydantic import SecretStr

from dolirelance.dolibarr.pace import Pace, PaceGate
from dolirelance.domain import DolibarrStatus
from dolirelance.errors import (
    DolibarrAuthError,
    DolibarrError,
    DolibarrNotFound,
    DolibarrRequestError,
    DolibarrResponseError,
    DolibarrUnavailable,
)

__all__ = ["Call", "DolibarrHttp", "Transport", "decode_body", "route_missing", "unreachable"]

log = logging.getLogger(__name__)

# What carries the requests to Dolibarr: a real connection pool by default, an app in tests.
Transport: TypeAlias = httpx.AsyncBaseTransport

MAX_BACKOFF_SECONDS = 10.0
MAX_TOTAL_BACKOFF_SECONDS = 30.0
_KEY_REMEDY = (
    "check [dolibarr] api_key / api_key_env; regenerate the key on the user card if the database was restored"
)


@dataclass(frozen=True, slots=True)
class Call:
    """One request to Dolibarr, with what its errors and logs name."""

    method: str
    path: str  # relative to the API root, already URL-encoded
    route: str  # "GET /proposals/{id}": for counters, logs and messages
    params: dict[str, str | int] | None = None
    body: Any = None
    what: str | None = None  # "quote 12": names the object in a 404 message
    empty_on_404: bool = False  # list routes answer 404 when nothing matches


class DolibarrHttp:
    """The connection to one Dolibarr: requests counted, paced, retried when safe, errors mapped."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        verify_tls: bool,
        max_concurrency: int,
        max_retries: int,
        backoff: float,
        transport: Transport | None,
        adapt_concurrency: bool = True,
    ) -> None:
        if not api_key.isascii():  # HTTP headers are ASCII: httpx would fail on the first request
            raise DolibarrAuthError(
                "the Dolibarr API key contains characters that are not ASCII",
                remedy="copy the key again from the user's card in Dolibarr (it is letters and digits)",
            )
        self.base_url = base_url.rstrip("/")
        self._api_key = SecretStr(api_key)
        self._max_concurrency = max_concurrency
        self._max_retries = max_retries
        self._backoff = backoff
        # requests in flight: up to max_concurrency, fewer while Dolibarr only queues them (pace.py)
        self.pace = Pace(max_concurrency, adaptive=adapt_concurrency)
        self._gate = PaceGate(self.pace)
        # ``GET /status`` once read (setup.py): a 401 from an old version then names the likely right
        self._status: DolibarrStatus | None = None
        self.request_count = 0
        self.requests_by_route: collections.Counter[str] = collections.Counter()
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            # The key goes in a header only: URL parameters end up in access logs.
            headers={"DOLAPIKEY": self._api_key.get_secret_value(), "Accept": "application/json"},
            timeout=timeout,
            verify=verify_tls,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def share_pace_with(self, other: DolibarrHttp) -> None:
        """Send through ``other``'s gate: two keys on one Dolibarr (the acting user's and the service's)
        are one server's load, under one limit, not twice it."""
        self.pace = other.pace
        self._gate = other._gate

    @contextlib.contextmanager
    def holding(self, at_most: int) -> Iterator[None]:
        """At most ``at_most`` requests in flight meanwhile, pages of lists aside (``pace.py``)."""
        with self._gate.holding(at_most):
            yield

    async def _call(self, call: Call) -> Any:
        """Send, map errors, decode JSON. ``None`` for 304 (nothing to do), ``[]`` for an empty 404 list."""
        return self._answer(await self._send(call), call)

    def _answer(self, response: httpx.Response, call: Call) -> Any:
        status = response.status_code
        if status == 304:
            return None
        if 200 <= status < 300:
            return decode_body(response, call)
        if status == 404 and call.empty_on_404 and _dolibarr_error(response) is not None:
            return []
        raise self._error(response, call)

    async def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        slept = 0.0
        while True:
            attempt += 1
            try:
                async with self._gate.slot(_kind(call), bulk=_is_list_page(call)) as slot:
                    response = await self._send_once(call)
                    if response.status_code < 400:  # an error's cost is not its kind's
                        slot.answered()
            except httpx.TransportError as exc:
                if _may_retry(call.method, exc) and attempt <= self._max_retries:
                    slept += await self._pause(attempt, slept)
                    continue
                raise unreachable(self.base_url, call, exc) from None
            if (
                call.method == "GET"
                and response.status_code in (502, 503, 504)
                and not _is_query_error(response)
                and attempt <= self._max_retries
            ):
                slept += await self._pause(attempt, slept)
                continue
            return response

    async def _send_once(self, call: Call) -> httpx.Response:
        self.request_count += 1
        self.requests_by_route[call.route] += 1
        started = time.perf_counter()
        try:
            response = await self._http.request(call.method, call.path, params=call.params, json=call.body)
        except httpx.TransportError as exc:
            log.debug("%s failed after %.0f ms: %s", call.route, _ms(started), type(exc).__name__)
            raise
        log.debug("%s -> %s in %.0f ms", call.route, response.status_code, _ms(started))
        return response

    async def _pause(self, attempt: int, slept: float) -> float:
        """Exponential backoff, each pause and the total bounded; returns the time slept."""
        delay = min(
            self._backoff * 2.0 ** (attempt - 1),
            MAX_BACKOFF_SECONDS,
            max(MAX_TOTAL_BACKOFF_SECONDS - slept, 0),
        )
        if delay > 0:
            await asyncio.sleep(delay)
        return delay

    def _error(self, response: httpx.Response, call: Call) -> DolibarrError:
        status = response.status_code
        message = _dolibarr_error(response)
        detail = message or _short_body(response)
        where = call.route
        if status == 401:
            if self._status is not None and self._status.version and self._status.version < (20,):
                return DolibarrAuthError(
                    f"Dolibarr refused {where}: {detail} (Dolibarr {self._status.version_text} "
                    "answers 401 both for a bad API key and for a missing right)",
                    remedy=f"give the API user the right {_likely_right(call)}, or {_KEY_REMEDY}",
                    status_code=status,
                )
            return DolibarrAuthError(
                f"the API key was refused by Dolibarr ({detail})", remedy=_KEY_REMEDY, status_code=status
            )
        if status == 403:
            if message is None:
                return DolibarrRequestError(
                    f"{where} was blocked by Dolibarr's web application firewall (WAF)",
                    remedy="the request holds characters the firewall refuses (quote, parenthesis, "
                    "SQL words); report it with the command that failed",
                    status_code=status,
                )
            return DolibarrAuthError(
                f"Dolibarr denied {where}: {detail}",
                remedy=f"give the API user the right {_likely_right(call)} "
                "(Users & Groups > the user > Permissions)",
                status_code=status,
            )
        if status == 404:
            if message is None:
                return DolibarrRequestError(
                    f"{self.base_url} answered 404 on {where} without a Dolibarr error",
                    remedy="check [dolibarr] url: it must end with /api/index.php",
                    status_code=status,
                )
            return DolibarrNotFound(
                f"{call.what or 'the object of ' + where} not found ({detail})", status_code=status
            )
        if status in (301, 302, 303, 307, 308):
            location = response.headers.get("location", "?")
            return DolibarrRequestError(
                f"Dolibarr redirected {where} to {location}",
                remedy="set [dolibarr] url to the final address (https, host name) of the API",
                status_code=status,
            )
        if status == 503 and _is_query_error(response):
            return DolibarrRequestError(
                f"Dolibarr could not run the query of {where}: {detail}",
                remedy="the filter uses a column this Dolibarr version does not have; "
                "report it with your Dolibarr version (dolirelance status)",
                status_code=status,
            )
        if status in (502, 503, 504) or (status >= 500 and message is None):
            write_note = (
                "; the change may have been applied: check in Dolibarr before trying again"
                if call.method != "GET"
                else ""
            )
            return DolibarrUnavailable(
                f"Dolibarr answered {status} on {where}: {detail}",
                remedy=f"the server is down or overloaded; try again later{write_note}",
                status_code=status,
            )
        if status == 501:
            return DolibarrRequestError(
                f"{where} is not available on this Dolibarr: {detail}",
                remedy="check the Dolibarr version (18 to 23) and that the module is enabled",
                status_code=status,
            )
        return DolibarrRequestError(f"Dolibarr refused {where}: {detail}", status_code=status)

    async def _call_unless_broken(
        self, call: Call, broken: Callable[[httpx.Response], bool]
    ) -> tuple[bool, Any]:
        """(False, None) when ``broken`` says the answer is the route failing, else (True, the decoded body)."""
        response = await self._send(call)
        if broken(response):
            log.debug("%s is broken on this server (%s)", call.route, response.status_code)
            return False, None
        return True, self._answer(response, call)


def decode_body(response: httpx.Response, call: Call) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        raise DolibarrResponseError(
            f"Dolibarr answered {call.route} with something that is not JSON "
            f"({response.headers.get('content-type', 'no content type')}): {_short_body(response)}",
            remedy="enable the API REST module in Dolibarr (Home > Setup > Modules), and check that "
            "[dolibarr] url ends with /api/index.php",
            status_code=response.status_code,
        ) from None


def _dolibarr_error(response: httpx.Response) -> str | None:
    """The message of a Restler error body, without its "Not Found: " prefix; None if not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    message = str(error.get("message") or "").strip()
    try:
        phrase = HTTPStatus(int(error.get("code") or response.status_code)).phrase
    except ValueError:
        phrase = response.reason_phrase
    if message.startswith(f"{phrase}: "):
        message = message[len(phrase) + 2 :]
    # some 500s put Dolibarr's error codes under numeric keys: {"0": null, "1": "ErrorActionComm..."}
    extra = [str(value) for key, value in error.items() if str(key).isdigit() and value]
    if extra:
        message = f"{message} ({', '.join(extra)})"
    return message or phrase


def route_missing(response: httpx.Response) -> bool:
    """Restler's "no such route": 404 (or 405/501) with no Dolibarr text, failed at its route stage."""
    if response.status_code in (405, 501):
        return True
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    debug = body.get("debug") if isinstance(body, dict) else None
    stages = debug.get("stages") if isinstance(debug, dict) else None
    failure = stages.get("failure") if isinstance(stages, dict) else None
    if isinstance(failure, list) and failure:
        return bool(failure[0] == "route")
    return _dolibarr_error(response) == HTTPStatus.NOT_FOUND.phrase  # production mode: no debug part


def _is_query_error(response: httpx.Response) -> bool:
    message = _dolibarr_error(response) or ""
    return "Unknown column" in message or "SQL" in message


def _short_body(response: httpx.Response) -> str:
    text = re.sub(r"<[^>]*>", " ", response.text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:200] or f"HTTP {response.status_code} {response.reason_phrase}"


def _may_retry(method: str, exc: httpx.TransportError) -> bool:
    # Never sent (connection refused, DNS, connect timeout, no free connection): always safe to retry.
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True
    # A write that timed out or lost its connection may have been applied: retrying could create
    # a second event or a second file. Only reads are retried then.
    return method == "GET" and isinstance(
        exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    )


def unreachable(base_url: str, call: Call, exc: httpx.TransportError) -> DolibarrUnavailable:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    remedy = "check [dolibarr] url and that the server is up"
    if "certificate" in reason.lower() or "ssl" in reason.lower():
        remedy = (
            "check the server's TLS certificate, or set [dolibarr] verify_tls = false for a self-signed one"
        )
    if call.method != "GET" and not _may_retry(call.method, exc):
        remedy += "; the change may have been applied: check in Dolibarr before trying again"
    return DolibarrUnavailable(f"cannot reach Dolibarr at {base_url} ({call.route}): {reason}", remedy=remedy)


# What a refused route most likely lacks, named in the error's remedy.
_READ_RIGHTS = {
    "proposals": "propal.lire",
    "documents": "propal.lire",
    "thirdparties": "societe.lire (and societe.client.voir to see every customer)",
    "contacts": "societe.contact.lire",
    "agendaevents": "agenda.myactions.read (agenda.allactions.read for other users' events)",
    "users": "user.user.lire",
    "setup": "admin",
}
_WRITE_RIGHTS = {
    "proposals": "propal.creer",
    "documents": "propal.creer",
    "agendaevents": "agenda.myactions.create (agenda.allactions.create for events owned by someone else)",
}


def _likely_right(call: Call) -> str:
    path = call.route.split(" ", 1)[-1].strip("/")
    if path == "users/info":  # reading oneself needs one of these, not user.user.lire alone
        return "user.self.creer (or user.user.lire)"
    if path.startswith("users/groups") or path.endswith("/groups"):  # one's own groups too
        return "user.user.lire (Read users, groups and permissions), or admin"
    resource = path.split("/")[0]
    if call.method != "GET" and resource in _WRITE_RIGHTS:
        return _WRITE_RIGHTS[resource]
    return _READ_RIGHTS.get(resource, "needed for this route")


def _kind(call: Call) -> str:
    """The kind of a request, whose cost alone (its best) the pace keeps: its route, a list's page size too."""
    size = call.params.get("limit") if call.params else None
    return call.route if size is None else f"{call.route} limit={size}"


def _is_list_page(call: Call) -> bool:
    """A page of a list (it has a ``limit``): read at up to ``max_concurrency`` at once, whatever the pace."""
    return call.params is not None and "limit" in call.params


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
