"""The ASGI app: the router, the WAF, authentication, the fault and cost hooks, and the dispatch."""

from __future__ import annotations

import asyncio
import html
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dolirelance.testing.cost import Charge, RequestCosts, charge_of
from dolirelance.testing.fake.records import (
    API_BASE,
    ApiError,
    NotModified,
    RequestLogEntry,
    UserRecord,
    error_body,
)
from dolirelance.testing.fake.routes.agenda import (
    create_event,
    delete_event,
    get_event,
    list_events,
    update_event,
)
from dolirelance.testing.fake.routes.call import (
    Call,
    Handler,
    error_response,
    json_response,
)
from dolirelance.testing.fake.routes.documents import (
    builddoc,
    delete_document,
    download_document,
    list_documents,
    upload_document,
)
from dolirelance.testing.fake.routes.people import (
    add_representative,
    create_contact,
    create_product,
    create_thirdparty,
    delete_representative,
    get_contact,
    get_group,
    get_thirdparty,
    get_user,
    list_contacts,
    list_groups,
    list_products,
    list_representatives,
    list_thirdparties,
    list_users,
    login,
    set_group,
    user_groups,
    users_info,
)
from dolirelance.testing.fake.routes.quotes import (
    add_proposal_contact,
    add_proposal_line,
    add_proposal_lines,
    close_proposal,
    create_proposal,
    delete_proposal,
    delete_proposal_contact,
    get_proposal,
    get_proposal_by_ref,
    get_proposal_lines,
    list_proposals,
    settodraft_proposal,
    update_proposal,
    validate_proposal,
)
from dolirelance.testing.fake.routes.setup import (
    create_extrafield,
    dictionary_contact_types,
    dictionary_event_types,
    get_extrafield,
    list_extrafields,
    setup_company,
    status,
)
from dolirelance.testing.fake.store import FakeDolibarr
from dolirelance.testing.fake_versions import FakeVersion


@dataclass(frozen=True)
class _RouteSpec:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    literal: bool  # Restler answers 405 (not 404) only for literal paths served under another method
    kind: str  # "METHOD /template": what the cost model charges by


class _Router:
    def __init__(self) -> None:
        self.routes: list[_RouteSpec] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        regex = "^" + re.sub(r"\{[a-z_]+\}", r"([^/]+)", template) + "$"
        self.routes.append(_RouteSpec(method, re.compile(regex), handler, "{" not in template, f"{method} {template}"))

    def match(self, method: str, path: str) -> tuple[_RouteSpec | None, tuple[str, ...], bool]:
        """(route, args, path_exists_with_other_method)"""
        other_method = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                if route.method == method:
                    return route, found.groups(), False
                other_method = other_method or route.literal
        return None, (), other_method


_KNOWN_RESOURCES = {
    "proposals",
    "thirdparties",
    "contacts",
    "products",
    "agendaevents",
    "documents",
    "setup",
    "users",
    "status",
    "login",
    "explorer",
    "invoices",
    "orders",
    "projects",
    "tickets",
}
_WAF_PATH_CHARS = set("();\"'<>?{}$%")
_WAF_QUERY_RE = re.compile(r"\"|<script|javascript:|union\s.*select|select\s.*from|update\s.*set\s.*=", re.I)


def _waf_page(kind: int, key: str, value: str, uri: str) -> Response:
    text = (
        "Access refused to 127.0.0.1 by SQL or Script injection protection in "
        f"main.inc.php:analyseVarsForSqlAndScriptsInjection type={kind} paramkey={html.escape(key)} "
        f"paramvalue={html.escape(value)} page={html.escape(uri)}"
    )
    page = f"<html><head><title>Access forbidden</title></head><body>{text}</body></html>\n"
    return Response(page, status_code=403, media_type="text/html")


def _build_router(version: FakeVersion) -> _Router:
    router = _Router()
    add = router.add
    add("GET", "/login", login)
    add("POST", "/login", login)
    add("GET", "/status", status)
    add("GET", "/proposals", list_proposals)
    add("POST", "/proposals", create_proposal)
    add("GET", "/proposals/ref/{ref}", get_proposal_by_ref)
    add("GET", "/proposals/{id}", get_proposal)
    add("PUT", "/proposals/{id}", update_proposal)
    add("DELETE", "/proposals/{id}", delete_proposal)
    add("POST", "/proposals/{id}/line", add_proposal_line)
    add("POST", "/proposals/{id}/lines", add_proposal_lines)
    add("GET", "/proposals/{id}/lines", get_proposal_lines)
    if version.contact_source_in_query:
        add("POST", "/proposals/{id}/contact/{contactid}/{type}", add_proposal_contact)
    else:
        add("POST", "/proposals/{id}/contact/{contactid}/{type}/{source}", add_proposal_contact)
    add("DELETE", "/proposals/{id}/contact/{contactid}/{type}", delete_proposal_contact)
    add("POST", "/proposals/{id}/validate", validate_proposal)
    add("POST", "/proposals/{id}/close", close_proposal)
    add("POST", "/proposals/{id}/settodraft", settodraft_proposal)
    add("GET", "/thirdparties", list_thirdparties)
    add("POST", "/thirdparties", create_thirdparty)
    add("GET", "/thirdparties/{id}", get_thirdparty)
    add("GET", "/thirdparties/{id}/representatives", list_representatives)
    add("POST", "/thirdparties/{id}/representative/{userid}", add_representative)
    add("DELETE", "/thirdparties/{id}/representative/{userid}", delete_representative)
    add("GET", "/contacts", list_contacts)
    add("POST", "/contacts", create_contact)
    add("GET", "/contacts/{id}", get_contact)
    add("GET", "/products", list_products)
    add("POST", "/products", create_product)
    add("GET", "/users/info", users_info)
    add("GET", "/users/groups", list_groups)
    add("GET", "/users/groups/{group}", get_group)
    add("GET", "/users/{id}/groups", user_groups)
    add("GET", "/users/{id}/setGroup/{group}", set_group)
    add("GET", "/users", list_users)
    add("GET", "/users/{id}", get_user)
    add("GET", "/setup/company", setup_company)
    add("GET", "/setup/extrafields", list_extrafields)
    add("GET", "/setup/extrafields/{elementtype}/{attrname}", get_extrafield)
    add("POST", "/setup/extrafields/{elementtype}/{attrname}", create_extrafield)
    add("GET", "/setup/dictionary/contact_types", dictionary_contact_types)
    add("GET", "/setup/dictionary/event_types", dictionary_event_types)
    add("GET", "/agendaevents", list_events)
    add("POST", "/agendaevents", create_event)
    add("GET", "/agendaevents/{id}", get_event)
    add("PUT", "/agendaevents/{id}", update_event)
    add("DELETE", "/agendaevents/{id}", delete_event)
    add("GET", "/documents", list_documents)
    add("DELETE", "/documents", delete_document)
    add("GET", "/documents/download", download_document)
    add("PUT", "/documents/builddoc", builddoc)
    add("POST", "/documents/upload", upload_document)
    return router


_NO_AUTH = {"/login"}
# An error or a 304: the request is paid for, no object is.
_UNCHARGED = Charge("error or nothing to do")


def create_app(fake: FakeDolibarr) -> Starlette:
    """The ASGI app; routes live under ``/api/index.php/``."""
    router = _build_router(fake.version)

    async def dispatch(request: Request) -> Response:
        if fake.cost is None:
            return await serve(request)
        if fake._costs is None or fake._costs.model != fake.cost:
            fake._costs = RequestCosts(fake.cost)
        if request.method.upper() != "GET":
            fake._list_memo.clear()
        return await fake._costs.serve(lambda: serve(request), lambda _: getattr(request.state, "charge", _UNCHARGED))

    async def serve(request: Request) -> Response:
        method = request.method.upper()
        path = "/" + request.path_params.get("path", "")
        path = path.rstrip("/") or "/"
        params = dict(request.query_params)
        fake.requests.append(RequestLogEntry(method, path, params))

        if fake.latency:
            await asyncio.sleep(fake.latency)
        if fake._hang_queue:
            await fake._hang(fake._hang_queue.pop(0))
        hang = fake._take_hang(method, path) if fake._targeted_hangs else None
        if hang is not None:
            await fake._hang(hang)
        injected = fake._take_failure(method, path) if fake._fail_queue else None
        if injected is not None:
            return json_response(error_body(injected, "Injected failure", "fake_dolibarr.py:0"), injected)

        # WAF (main.inc.php runs before the API): checks the decoded path and query string.
        if any(char in _WAF_PATH_CHARS for char in path):
            return _waf_page(2, "PHP_SELF", path, str(request.url.path))
        for name, value in request.query_params.multi_items():
            if _WAF_QUERY_RE.search(value) or '"' in name:
                return _waf_page(1, name, value, f"{request.url.path}?{request.url.query}")

        raw_body = await request.body()
        body: Any = None
        if raw_body.strip():
            try:
                body = json.loads(raw_body)
            except ValueError:
                return json_response(
                    error_body(
                        400, "Error encoding/decoding JSON: Syntax error", "JsonFormat.php:154", "setup"
                    ),
                    400,
                )

        resource = path.strip("/").split("/", 1)[0]
        route, args, other_method = router.match(method, path)
        if route is None:
            if resource not in _KNOWN_RESOURCES:
                return Response(
                    "API not found (failed to include API file)", status_code=501, media_type="text/plain"
                )
            status_code = 405 if other_method else 404
            return json_response(error_body(status_code, "", "Routes.php:457", "route"), status_code)

        user: UserRecord | None = None
        if path not in _NO_AUTH:
            key: str | None = (
                request.headers.get("DOLAPIKEY") or params.get("DOLAPIKEY") or params.get("api_key")
            )
            if not key:
                return json_response(
                    error_body(
                        401,
                        "Failed to login to API. No parameter 'HTTP_DOLAPIKEY' on HTTP header "
                        "(and no parameter DOLAPIKEY in URL).",
                        "api_access.class.php:206",
                        "authenticate",
                    ),
                    401,
                )
            user = fake.user_by_key(key)
            if user is None:
                if fake.bad_key_delay:
                    await asyncio.sleep(fake.bad_key_delay)
                return json_response(
                    error_body(
                        401,
                        "Error user not valid (not found with api key or bad status or bad validity dates) "
                        "(conf->entity=1)",
                        "api_access.class.php:170",
                        "authenticate",
                    ),
                    401,
                )
        call = Call(fake, user or fake.admin_user, params, body, tuple(unquote(arg) for arg in args), method)
        try:
            result = route.handler(call)
            request.state.charge = charge_of(route.kind, result)
        except NotModified:
            return Response(b"", status_code=304)
        except ApiError as error:
            return error_response(error, fake.version)
        finally:
            if method != "GET":
                fake._list_memo.clear()
        hang_after = fake._take_hang_after_applying(method, path) if fake._hangs_after_applying else None
        if hang_after is not None:  # applied: the answer is what never comes
            await fake._hang(hang_after)
        return json_response(result)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[Route(API_BASE + "/{path:path}", dispatch, methods=methods)])
