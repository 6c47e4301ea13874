"""Routes of ``/proposals``: lists, reads, writes, lines, contacts and the status changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from dolirelance.testing import fake_versions
from dolirelance.testing.fake import rows
from dolirelance.testing.fake.records import (
    DEFAULT_VALIDITY_DAYS,
    ApiError,
    NotModified,
    ProposalRecord,
    int_or_none,
    only_properties,
    php_int,
)
from dolirelance.testing.fake.render import (
    ContactsMode,
    render_line,
    render_proposal,
)
from dolirelance.testing.fake.routes import listing
from dolirelance.testing.fake.routes.call import (
    Call,
    body_dict,
)
from dolirelance.testing.fake.routes.listing import (
    Listing,
    paginate,
    top_level_ids,
)
from dolirelance.testing.fake.rows import PROPOSAL_COLUMNS
from dolirelance.testing.fake.store import FakeDolibarr

# The lists these routes serve, as Dolibarr runs them.
PROPOSALS = Listing(
    PROPOSAL_COLUMNS,
    rows.proposal_row,
    "Error when retrieve propal list",
    "api_proposals.class.php:235",
    extrafields_of="propal",
)


def _get_proposal(
    call: Call, proposal_id: str | int, source: str = "api_proposals.class.php:131"
) -> ProposalRecord:
    proposal = call.fake.proposals.get(php_int(proposal_id))
    if proposal is None:
        raise ApiError(404, "Commercial Proposal not found", source=source)
    if not call.fake.sees_thirdparty(call.user, proposal.socid):
        raise call.refused(source)
    return proposal


def list_proposals(call: Call) -> Any:
    call.require("propal.lire")
    fake = call.fake
    wanted_ids = top_level_ids(call.param("sqlfilters"), "t.rowid")
    if wanted_ids is None:
        records = list(fake.proposals.values())
    else:
        records = [fake.proposals[i] for i in sorted(wanted_ids) if i in fake.proposals]
    thirdparty_ids = call.param("thirdparty_ids")
    if thirdparty_ids:
        wanted = {php_int(part) for part in thirdparty_ids.split(",") if part.strip()}
        records = [p for p in records if p.socid in wanted]
    if not fake.user_sees_all(call.user):
        records = [p for p in records if fake.sees_thirdparty(call.user, p.socid)]
    records = listing.filter_and_sort(call, records, PROPOSALS)
    properties = call.param("properties")
    page = [only_properties(_listed_proposal(fake, p), properties) for p in paginate(records, call)]
    return fake_versions.paginated(fake.version, call.params, page, len(records))


def _listed_proposal(fake: FakeDolibarr, proposal: ProposalRecord) -> dict[str, Any]:
    """A proposal as a list shows it; kept like ``_list_memo`` when the cost model is on."""
    if fake.cost is None:
        return render_proposal(fake, proposal, "ids")
    key = ("proposal", proposal.id)
    rendered = fake._list_memo.get(key)
    if rendered is None:
        rendered = fake._list_memo[key] = [render_proposal(fake, proposal, "ids")]
    return rendered[0]  # type: ignore[no-any-return]


def get_proposal(call: Call) -> Any:
    call.require("propal.lire")
    proposal = _get_proposal(call, call.path_args[0])
    return _render_single(call, proposal)


def get_proposal_by_ref(call: Call) -> Any:
    call.require("propal.lire")
    if call.fake.version.ref_route_broken:
        # getByRef() calls _fetch(0, $ref), which refuses id 0 before looking (issue #37805)
        raise ApiError(400, "No proposal with id=0 can exist", source="api_proposals.class.php:98")
    proposal = call.fake.proposal_by_ref(unquote(call.path_args[0]))
    if proposal is None:
        raise ApiError(404, "Commercial Proposal not found", source="api_proposals.class.php:131")
    return _render_single(call, _get_proposal(call, proposal.id))


def _render_single(call: Call, proposal: ProposalRecord) -> Any:
    contact_list = call.param("contact_list", "1")
    mode: ContactsMode = "full" if contact_list == "0" else "ids"
    if contact_list == "-1" and call.fake.version.internal_contacts:
        mode = "null"  # 22+: -1 skips the contacts
    return render_proposal(call.fake, proposal, mode, single=True)  # single GET ignores `properties`


def create_proposal(call: Call) -> Any:
    call.require("propal.creer")
    body = body_dict(call)
    if not body.get("socid"):
        raise ApiError(400, "socid field missing", source="api_proposals.class.php:970")
    fake = call.fake
    raw_date = body.get("date", body.get("datep"))
    date_epoch = fake.now_epoch() if raw_date in (None, "") else php_int(raw_date)
    duree = (
        php_int(body["duree_validite"])
        if body.get("duree_validite") not in (None, "")
        else DEFAULT_VALIDITY_DAYS
    )
    proposal = fake.add_proposal(
        php_int(body["socid"]),
        date=date_epoch,
        duree_validite=duree,
        user_id=call.user.id,
        ref_client=str(body.get("ref_client") or ""),
        note_public=str(body.get("note_public") or ""),
        note_private=str(body.get("note_private") or ""),
        cond_reglement_id=int_or_none(body.get("cond_reglement_id")),
        mode_reglement_id=int_or_none(body.get("mode_reglement_id")),
    )
    if isinstance(body.get("array_options"), dict):
        fake.set_proposal_options(
            proposal.id,
            **{
                k.removeprefix("options_"): (None if v is None else str(v))
                for k, v in body["array_options"].items()
            },
        )
    return proposal.id


def update_proposal(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:667")
    call.fake.update_proposal(proposal.id, body_dict(call), user_id=call.user.id)
    return render_proposal(call.fake, proposal, "ids")


def delete_proposal(call: Call) -> Any:
    call.require("propal.supprimer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:705")
    call.fake.delete_proposal(proposal.id)
    return {"success": {"code": 200, "message": "Commercial Proposal deleted"}}


def _line_from_body(call: Call, proposal: ProposalRecord, data: Mapping[str, Any]) -> int:
    if data.get("product_type") in (None, ""):
        raise ApiError(
            400,
            "Incorrect integer value: '' for column `dolibarr`.`llx_propaldet`.`product_type` at row 1 "
            "sql=INSERT INTO llx_propaldet (fk_propal, fk_parent_line, label, description, fk_product, "
            "product_type, ...)",
            source="api_proposals.class.php:410",
        )
    fk_product = int_or_none(data.get("fk_product"))
    product = call.fake.products.get(fk_product) if fk_product else None
    line = call.fake.add_proposal_line(
        proposal.id,
        description=str(data.get("desc") or data.get("description") or ""),
        qty=data.get("qty", 1),
        subprice=data.get("subprice", product.price if product else 0),
        tva_tx=data.get("tva_tx", product.tva_tx if product else 20),
        product_type=php_int(data["product_type"]),
        fk_product=fk_product,
        remise_percent=data.get("remise_percent", 0),
    )
    return line.id


def add_proposal_line(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:410")
    return _line_from_body(call, proposal, body_dict(call))


def add_proposal_lines(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:463")
    if not isinstance(call.body, list) or not all(isinstance(item, dict) for item in call.body):
        raise ApiError(400, ", Array", source="api_proposals.class.php:463")
    last = 0
    for item in call.body:
        last = _line_from_body(call, proposal, item)
    return last


def get_proposal_lines(call: Call) -> Any:
    call.require("propal.lire")
    proposal = _get_proposal(call, call.path_args[0])
    return [render_line(call.fake, proposal, line) for line in proposal.lines]


def add_proposal_contact(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:600")
    contact_id, type_code = php_int(call.path_args[1]), call.path_args[2]
    source = call.path_args[3] if len(call.path_args) > 3 else call.param("source", "external") or "external"
    if source == "external" and type_code not in ("BILLING", "SHIPPING", "CUSTOMER"):
        raise ApiError(
            500,
            "Availables external types: BILLING, SHIPPING OR CUSTOMER",
            source="api_proposals.class.php:609",
        )
    if source == "internal" and type_code != "SALESREPFOLL":
        raise ApiError(500, "Availables internal types: SALESREPFOLL", source="api_proposals.class.php:613")
    if source not in ("external", "internal"):
        raise ApiError(500, "Source must be internal or external", source="api_proposals.class.php:605")
    call.fake.link_contact(proposal.id, contact_id, type_code, source)
    return {"success": {"code": 200, "message": "Contact linked to the proposal"}}


def delete_proposal_contact(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:640")
    call.fake.unlink_contact(proposal.id, php_int(call.path_args[1]), call.path_args[2])
    return {"success": {"code": 200, "message": "Contact unlinked from proposal"}}


def validate_proposal(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:856")
    if not call.fake.validate_proposal(proposal.id, user_id=call.user.id):
        raise NotModified
    return render_proposal(call.fake, proposal, "null")


def close_proposal(call: Call) -> Any:
    call.require("propal.creer")
    body = body_dict(call)
    status = php_int(body.get("status"))
    if status > 3:
        raise ApiError(
            400,
            "Invalid value specified for `status`. Maximum allowed value is 3.",
            source="Validator.php:718",
            stage="validate",
        )
    if status < 2:
        raise ApiError(
            400,
            "Invalid value specified for `status`. Minimum allowed value is 2.",
            source="Validator.php:718",
            stage="validate",
        )
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:910")
    call.fake.close_proposal(
        proposal.id, status, note_private=str(body.get("note_private") or ""), user_id=call.user.id
    )
    return render_proposal(call.fake, proposal, "null")


def settodraft_proposal(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:760")
    if proposal.status == 0:
        raise NotModified
    call.fake.set_proposal_draft(proposal.id, user_id=call.user.id)
    return render_proposal(call.fake, proposal, "null")
