"""People and companies: customers (third parties), their contacts, users and groups, sales representatives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from dolirelance.dolibarr import versions, wire
from dolirelance.dolibarr.http import Call, route_missing
from dolirelance.dolibarr.paging import ListReads, ids_by_url_length
from dolirelance.dolibarr.setup import ServerSetup
from dolirelance.dolibarr.sqlfilters import criterion, or_
from dolirelance.domain import Contact, Customer, User, UserGroup
from dolirelance.errors import DolibarrNotFound, DolibarrRequestError

__all__ = ["CONTACT_PROPERTIES", "CUSTOMER_PROPERTIES", "PeopleRoutes"]

# Only what Customer and Contact need, for the bulk reads (a real server still loads each object).
CUSTOMER_PROPERTIES = "id,name,email,address,zip,town,country_code,code_client,phone,default_lang,date_modification"
CONTACT_PROPERTIES = (
    "id,socid,firstname,lastname,email,civility_code,phone_pro,phone_mobile,poste,default_lang,statut,date_modification"
)


class PeopleRoutes(ServerSetup, ListReads):
    """The routes of ``/thirdparties``, ``/contacts`` and ``/users``."""

    async def get_customer(self, customer_id: int) -> Customer:
        route = "GET /thirdparties/{id}"
        body = await self._call(
            Call("GET", f"thirdparties/{int(customer_id)}", route, what=f"customer {customer_id}")
        )
        return wire.parse(wire.WireCustomer, body, route).to_domain()

    async def list_customers(self, ids: Iterable[int]) -> dict[int, Customer]:
        """Many customers in few requests: ``(t.rowid:in:...)`` by chunks, paged."""
        customers = await self._list_by_ids(
            "thirdparties", CUSTOMER_PROPERTIES, ids, wire.WireCustomer, wire.WireCustomer.to_domain
        )
        return {customer.id: customer for customer in customers}

    async def find_customers(self, name_or_code: str) -> list[Customer]:
        """Customers whose name or customer code contains the text (case rules are the database's)."""
        text = name_or_code.strip()
        try:
            flt = or_(
                criterion("t.nom", "like", f"%{text}%"), criterion("t.code_client", "like", f"%{text}%")
            )
        except ValueError as exc:
            raise DolibarrRequestError(
                str(exc), remedy="search with a shorter text, without ( ) \" '"
            ) from None
        route = "GET /thirdparties"
        items = await self._paged(
            "thirdparties", route, {"sqlfilters": str(flt)}, sortfield="t.rowid", empty_on_404=True
        )
        return self._rows(wire.WireCustomer, items, route, wire.WireCustomer.to_domain)

    async def list_contacts(self, ids: Iterable[int]) -> dict[int, Contact]:
        """Many contacts in few requests: ``(t.rowid:in:...)`` by chunks, paged; unknown ids are left out."""
        contacts = await self._list_by_ids(
            "contacts", CONTACT_PROPERTIES, ids, wire.WireContact, wire.WireContact.to_domain
        )
        return {contact.id: contact for contact in contacts}

    async def _list_by_ids(
        self,
        resource: str,
        properties: str,
        ids: Iterable[int],
        model: type[wire.ModelT],
        convert: Callable[[wire.ModelT], wire.DomainT],
    ) -> list[wire.DomainT]:
        """The rows of ``resource`` with these ids, as many a request as the URL holds, parsed row by row."""
        route = f"GET /{resource}"
        wanted = sorted({int(i) for i in ids})
        pages = await asyncio.gather(
            *(
                self._paged(
                    resource,
                    route,
                    {"sqlfilters": str(criterion("t.rowid", "in", chunk)), "properties": properties},
                    sortfield="t.rowid",
                    empty_on_404=True,
                    at_most=len(chunk),
                )
                for chunk in ids_by_url_length(wanted)
            )
        )
        return self._rows(model, [item for page in pages for item in page], route, convert)

    async def get_contact(self, contact_id: int) -> Contact:
        route = "GET /contacts/{id}"
        body = await self._call(
            Call("GET", f"contacts/{int(contact_id)}", route, what=f"contact {contact_id}")
        )
        return wire.parse(wire.WireContact, body, route).to_domain()

    # ------------------------------------------------------------------ users

    async def current_user(self) -> User:
        """The API key's user, with its rights as dotted names."""
        route = "GET /users/info"
        body = await self._call(Call("GET", "users/info", route, {"includepermissions": 1}, what="API user"))
        return wire.parse(wire.WireUser, body, route).to_domain()

    async def get_user(self, user_id: int) -> User:
        route = "GET /users/{id}"
        body = await self._call(Call("GET", f"users/{int(user_id)}", route, what=f"user {user_id}"))
        return wire.parse(wire.WireUser, body, route).to_domain()

    async def user_groups(self, user_id: int) -> frozenset[str]:
        """Names of a user's groups (``GET /users/{id}/groups``: needs user.user.lire or admin, even for oneself;
        ``current_user`` gives the API key's own groups with ``user.self.creer`` alone)."""
        route = "GET /users/{id}/groups"
        body = await self._call(
            Call("GET", f"users/{int(user_id)}/groups", route, what=f"user {user_id}", empty_on_404=True)
        )
        return frozenset(group.name for group in wire.parse_list(wire.WireGroup, body, route))

    async def find_group(self, name: str) -> UserGroup | None:
        """The group of that exact name with its members, or None (needs user.user.lire or admin)."""
        route = "GET /users/groups"
        params: dict[str, str | int]
        try:
            params = {"sqlfilters": str(criterion("t.nom", "=", name)), "limit": 2}
        except ValueError:  # a name the filter cannot quote: read every group (a handful) and compare here
            params = {"limit": 0}
        body = await self._call(Call("GET", "users/groups", route, params, empty_on_404=True))
        found = [group for group in wire.parse_list(wire.WireGroup, body, route) if group.name == name]
        if not found:
            return None
        route = "GET /users/groups/{id}"
        body = await self._call(
            Call("GET", f"users/groups/{found[0].id}", route, {"load_members": 1}, what=f"group {name!r}")
        )
        return wire.parse(wire.WireGroup, body, route).to_domain()

    async def find_user_by_login(self, login: str) -> User:
        route = "GET /users"
        try:
            flt = criterion("t.login", "=", login)
        except ValueError as exc:
            raise DolibarrNotFound(f"no Dolibarr user with login {login!r}: {exc}") from None
        body = await self._call(
            Call("GET", "users", route, {"sqlfilters": str(flt), "limit": 2}, empty_on_404=True)
        )
        users = wire.parse_list(wire.WireUser, body, route)
        if not users:
            raise DolibarrNotFound(
                f"no Dolibarr user with login {login!r}",
                remedy="check the login on the user's card in Dolibarr (Users & Groups)",
                status_code=404,
            )
        return users[0].to_domain()

    async def sales_representatives(self, customer_id: int) -> list[User]:
        """The customer's sales representatives; ``[]`` when unknown so callers fall back on the quote author.

        Dolibarr 22.x and 23.x always answer 404 on this route (issue #38985): not even asked there.
        """
        feature = "representatives"
        if not await self.representatives_known():
            return []
        route = "GET /thirdparties/{id}/representatives"
        call = Call(
            "GET", f"thirdparties/{int(customer_id)}/representatives", route, {"mode": 0}, empty_on_404=True
        )
        answered, body = await self._call_unless_broken(call, route_missing)
        if not answered:
            await self._learn(feature, "none", route)
            return []
        return [w.to_domain() for w in wire.parse_list(wire.WireUser, body, route)]

    async def representatives_known(self) -> bool:
        """False where ``/thirdparties/{id}/representatives`` is known (or found) broken: 22.x, 23.x."""
        path = await self._path_for("representatives", versions.REPRESENTATIVES_BROKEN, "route", "none")
        return path == "route"
