"""Routes of third parties, contacts, products, users, groups and ``/login``."""

from __future__ import annotations

import secrets
from typing import Any

from dolirelance.testing import fake_versions
from dolirelance.testing.fake import rows
from dolirelance.testing.fake.records import (
    ApiError,
    ContactRecord,
    ThirdPartyRecord,
    amount,
    int_or_none,
    only_properties,
    php_int,
)
from dolirelance.testing.fake.render import (
    render_contact,
    render_group,
    render_representative,
    render_thirdparty,
    render_user,
)
from dolirelance.testing.fake.routes import listing
from dolirelance.testing.fake.routes.call import (
    Call,
    body_dict,
    record_fields,
)
from dolirelance.testing.fake.routes.listing import Listing, paginate
from dolirelance.testing.fake.rows import (
    CONTACT_COLUMNS,
    GROUP_COLUMNS,
    THIRDPARTY_COLUMNS,
    USER_COLUMNS,
)

# The lists these routes serve, as Dolibarr runs them.
THIRDPARTIES = Listing(
    THIRDPARTY_COLUMNS, rows.thirdparty_row, "Error when retrieve thirdparties", "api_thirdparties.class.php:231"
)
CONTACTS = Listing(CONTACT_COLUMNS, rows.contact_row, "Error when retrieve contacts", "api_contacts.class.php:261")
USERS = Listing(USER_COLUMNS, rows.user_row, "Error when retrieve User list", "api_users.class.php:120")
GROUPS = Listing(GROUP_COLUMNS, rows.group_row, "Error when retrieve Group list", "api_users.class.php:600")


def list_thirdparties(call: Call) -> Any:
    call.require("societe.lire")
    fake = call.fake
    records = [tp for tp in fake.thirdparties.values() if fake.sees_thirdparty(call.user, tp.id)]
    records = listing.filter_and_sort(call, records, THIRDPARTIES)
    page = paginate(records, call)
    if not page:
        raise ApiError(
            404, fake_versions.thirdparties_not_found(fake.version), source="api_thirdparties.class.php:237"
        )
    rendered = [only_properties(render_thirdparty(fake, tp), call.param("properties")) for tp in page]
    return fake_versions.paginated(fake.version, call.params, rendered, len(records))


def _get_thirdparty(call: Call, raw_id: str) -> ThirdPartyRecord:
    thirdparty = call.fake.thirdparties.get(php_int(raw_id))
    if thirdparty is None:
        raise ApiError(404, "Thirdparty not found", source="api_thirdparties.class.php:2021")
    if not call.fake.sees_thirdparty(call.user, thirdparty.id):
        raise call.refused("api_thirdparties.class.php:2025")
    return thirdparty


def get_thirdparty(call: Call) -> Any:
    call.require("societe.lire")
    return render_thirdparty(call.fake, _get_thirdparty(call, call.path_args[0]))


def create_thirdparty(call: Call) -> Any:
    call.require("societe.creer")
    body = body_dict(call)
    if not body.get("name"):
        raise ApiError(400, "name field missing", source="api_thirdparties.class.php:2000")
    fields = record_fields(body, ThirdPartyRecord, "id", "sales_rep_ids")
    fields["client"] = php_int(body.get("client", 1))
    fields["code_client"] = str(body.get("code_client") or "")
    if "country_id" in fields:
        fields["country_id"] = int_or_none(fields["country_id"])
    return call.fake.add_thirdparty(**fields).id


def list_representatives(call: Call) -> Any:
    call.require("societe.lire")
    if call.fake.version.representatives_broken:
        raise ApiError(404, "Thirdparty not found", source="api_thirdparties.class.php:1000")
    thirdparty = _get_thirdparty(call, call.path_args[0])
    users = [call.fake.users[uid] for uid in thirdparty.sales_rep_ids if uid in call.fake.users]
    if call.param("mode") == "1":
        return [user.id for user in users]
    return [render_representative(user) for user in users]


def add_representative(call: Call) -> Any:
    call.require("societe.creer")
    thirdparty = _get_thirdparty(call, call.path_args[0])
    user_id = php_int(call.path_args[1])
    if user_id not in call.fake.users:
        raise ApiError(404, "User not found", source="api_thirdparties.class.php:1030")
    call.fake.add_sales_rep(thirdparty.id, user_id)
    return 1


def delete_representative(call: Call) -> Any:
    call.require("societe.creer")
    thirdparty = _get_thirdparty(call, call.path_args[0])
    user_id = php_int(call.path_args[1])
    if user_id in thirdparty.sales_rep_ids:
        thirdparty.sales_rep_ids.remove(user_id)
    return 1


def list_contacts(call: Call) -> Any:
    call.require("societe.contact.lire")
    fake = call.fake
    records = [c for c in fake.contacts.values() if fake.sees_thirdparty(call.user, c.socid)]
    thirdparty_ids = call.param("thirdparty_ids")
    if thirdparty_ids:
        wanted = {php_int(part) for part in thirdparty_ids.split(",") if part.strip()}
        records = [c for c in records if c.socid in wanted]
    records = listing.filter_and_sort(call, records, CONTACTS)
    page = paginate(records, call)
    if not page and not fake.version.empty_contacts_as_list:
        raise ApiError(404, "Contacts not found", source="api_contacts.class.php:267")
    return [only_properties(render_contact(fake, c), call.param("properties")) for c in page]


def get_contact(call: Call) -> Any:
    call.require("societe.contact.lire")
    contact = call.fake.contacts.get(php_int(call.path_args[0]))
    if contact is None:
        raise ApiError(404, "Contact not found", source="api_contacts.class.php:100")
    if not call.fake.sees_thirdparty(call.user, contact.socid):
        raise call.refused("api_contacts.class.php:104")
    return render_contact(call.fake, contact)


def create_contact(call: Call) -> Any:
    call.require("societe.contact.creer")
    body = body_dict(call)
    if not body.get("lastname"):
        raise ApiError(400, "lastname field missing", source="api_contacts.class.php:400")
    fields = record_fields(body, ContactRecord, "id", "socid", "lastname")
    return call.fake.add_contact(int_or_none(body.get("socid")), str(body["lastname"]), **fields).id


def create_product(call: Call) -> Any:
    call.require("produit.creer")
    body = body_dict(call)
    for required in ("ref", "label"):
        if not body.get(required):
            raise ApiError(400, f"{required} field missing", source="api_products.class.php:300")
    fields = {key: value for key, value in body.items() if key not in ("ref", "label")}
    return call.fake.add_product(str(body["ref"]), str(body["label"]), **fields).id


def list_products(call: Call) -> Any:
    call.require("produit.lire")
    items = [
        {
            "id": str(p.id),
            "ref": p.ref,
            "label": p.label,
            "type": str(p.type),
            "price": amount(p.price),
            "tva_tx": f"{p.tva_tx:.3f}",
            "description": p.description,
        }
        for p in call.fake.products.values()
    ]
    return [only_properties(item, call.param("properties")) for item in paginate(items, call)]


# ---- users, groups, login -------------------------------------------------------------------------


def login(call: Call) -> Any:
    data = {**call.params, **(call.body if isinstance(call.body, dict) else {})}
    user = call.fake.user_by_login(str(data.get("login") or ""))
    if user is None or user.password != str(data.get("password") or "") or not user.password:
        raise ApiError(403, "Access denied", source="api_login.class.php:150")
    if str(data.get("reset") or "0") == "1":
        user.api_key = secrets.token_hex(16)
    return {
        "success": {
            "code": 200,
            "token": user.api_key,
            "entity": "1",
            "message": f"Welcome {user.login} - This is your token (recorded for your user). You can use "
            "it to make any REST API call, or enter it into the DOLAPIKEY field to use the Dolibarr API "
            "explorer.",
        }
    }


def users_info(call: Call) -> Any:
    call.require("user.self.creer", "user.user.lire", any_of=True)
    return render_user(call.fake, call.user, with_rights=call.param("includepermissions") == "1", in_info=True)


def get_user(call: Call) -> Any:
    user_id = php_int(call.path_args[0])
    if user_id != call.user.id:
        call.require("user.user.lire")
    user = call.fake.users.get(user_id)
    if user is None:
        raise ApiError(404, "User not found", source="api_users.class.php:150")
    return render_user(call.fake, user, with_rights=call.param("includepermissions") == "1")


def list_users(call: Call) -> Any:
    call.require("user.user.lire")
    fake = call.fake
    records = listing.filter_and_sort(call, list(fake.users.values()), USERS)
    return [
        only_properties(render_user(fake, u), call.param("properties")) for u in paginate(records, call)
    ]


def _require_group_reading(call: Call) -> None:
    # Users::listGroups/infoGroups, without MAIN_USE_ADVANCED_PERMS: user.user.lire or admin
    if not call.user.admin and "user.user.lire" not in call.user.rights:
        raise ApiError(403, "You are not allowed to read groups", source="api_users.class.php:560")


def user_groups(call: Call) -> Any:
    """GET /users/{id}/groups: user.user.lire or admin, even for one's own id (Users::getGroups)."""
    if not call.user.admin and "user.user.lire" not in call.user.rights:
        raise ApiError(403, source="api_users.class.php:470")
    user_id = php_int(call.path_args[0])
    if user_id not in call.fake.users:
        raise ApiError(404, "user not found", source="api_users.class.php:476")
    return [render_group(call.fake, group) for group in call.fake.groups_of(user_id)]


def list_groups(call: Call) -> Any:
    _require_group_reading(call)
    fake = call.fake
    records = listing.filter_and_sort(call, list(fake.groups.values()), GROUPS)
    wanted = call.param("group_ids") or "0"
    if wanted != "0":
        ids = {php_int(part) for part in wanted.split(",") if part}
        records = [group for group in records if group.id in ids]
    return [only_properties(render_group(fake, g), call.param("properties")) for g in paginate(records, call)]


def get_group(call: Call) -> Any:
    _require_group_reading(call)
    group = call.fake.groups.get(php_int(call.path_args[0]))
    if group is None:
        raise ApiError(404, "Group not found", source="api_users.class.php:650")
    return render_group(call.fake, group, with_members=call.param("load_members") == "1")


def set_group(call: Call) -> Any:
    """GET /users/{id}/setGroup/{group}: user.user.creer or admin (Users::setGroup)."""
    if not call.user.admin and "user.user.creer" not in call.user.rights:
        raise ApiError(403, "setGroup on users not allowed for login " + call.user.login,
                       source="api_users.class.php:500")
    user_id, group_id = php_int(call.path_args[0]), php_int(call.path_args[1])
    if user_id not in call.fake.users:
        raise ApiError(404, "User not found", source="api_users.class.php:505")
    if group_id not in call.fake.groups:  # SetInGroup inserts a dangling link; the fake refuses it
        raise ApiError(500, "", source="api_users.class.php:520")
    call.fake.add_to_group(user_id, group_id)
    return 1
