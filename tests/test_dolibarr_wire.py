"""Wire models against bodies copied from transcript-20.0.0.md (trimmed to the keys that matter)."""

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dolirelance.dolibarr import wire
from dolirelance.domain import QuoteStatus
from dolirelance.errors import DolibarrResponseError

UTC_TZ = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")

# GET /proposals/1?contact_list=0 (transcript, Part 2), main keys
PROPOSAL_1 = {
    "module": None,
    "id": "1",
    "entity": "1",
    "array_options": {"options_norelance": None},
    "contacts_ids": [
        {
            "parentId": "1",
            "source": "external",
            "socid": "1",
            "id": "5",
            "nom": "Zola",
            "civility": "MR",
            "lastname": "Zola",
            "firstname": "Paul",
            "email": "",
            "statuscontact": "1",
            "rowid": "3",
            "code": "BILLING",
            "libelle": "Contact client facturation propale",
            "status": "4",
            "fk_c_type_contact": "7",
        },
        {
            "parentId": "1",
            "source": "external",
            "socid": "1",
            "id": "1",
            "nom": "Martin",
            "civility": "MR",
            "lastname": "Martin",
            "firstname": "Jean",
            "email": "jean.martin@boulangerie-martin.test",
            "statuscontact": "1",
            "rowid": "1",
            "code": "CUSTOMER",
            "libelle": "Contact client suivi propale",
            "status": "4",
            "fk_c_type_contact": "8",
        },
    ],
    "linkedObjectsIds": [],
    "ref": "PR2611-0001",
    "ref_ext": "",
    "statut": 1,
    "status": 1,
    "socid": "1",
    "multicurrency_code": "EUR",
    "multicurrency_total_ttc": "1092.00000000",
    "last_main_doc": "propale/PR2611-0001/PR2611-0001.pdf",
    "note_public": "Proposition P1 g&eacute;n&eacute;r&eacute;e <b>via</b> API",
    "note_private": "",
    "total_ht": "910.00000000",
    "total_tva": "182.00000000",
    "total_ttc": "1092.00000000",
    "date": 1792368000,
    "datep": 1792368000,
    "fin_validite": 1794996000,
    "date_validation": 1795828818,
    "date_signature": "",
    "user_author_id": "1",
    "ref_client": "",
    "lines": [{"id": "1", "desc": "", "qty": "1"}],
}


def test_quote_from_transcript_body() -> None:
    quote = wire.parse(wire.WireQuote, PROPOSAL_1, "GET /proposals/{id}").to_domain(UTC_TZ)
    assert quote.id == 1
    assert quote.ref == "PR2611-0001"
    assert quote.customer_id == 1
    assert quote.status is QuoteStatus.OPEN
    assert quote.issue_date == date(2026, 10, 19)
    assert quote.end_of_validity == date(2026, 11, 18)
    assert quote.total_excl_tax == Decimal("910.00000000")
    assert quote.total_incl_tax == Decimal("1092")
    assert quote.currency == "EUR"
    assert quote.opt_out is False
    assert quote.main_document == "PR2611-0001/PR2611-0001.pdf"
    assert quote.author_id == 1
    assert quote.note_public == "Proposition P1 générée via API"


def test_contact_rows_customer_external_first_and_empty_email_is_none() -> None:
    quote = wire.parse(wire.WireQuote, PROPOSAL_1, "GET /proposals/{id}").to_domain(UTC_TZ)
    assert [c.type_code for c in quote.contacts] == ["CUSTOMER", "BILLING"]
    customer, billing = quote.contacts
    assert customer.contact_id == 1
    assert customer.email == "jean.martin@boulangerie-martin.test"
    assert customer.source == "external"
    assert customer.civility == "MR"
    assert customer.active
    assert billing.email is None
    assert quote.customer_contacts() == (customer,)


@pytest.mark.parametrize("contacts_ids", [None, [], ["1"], [1, "2"]])
def test_contacts_ids_without_rows_give_no_contacts(contacts_ids: object) -> None:
    body = {**PROPOSAL_1, "contacts_ids": contacts_ids}
    quote = wire.parse(wire.WireQuote, body, "GET /proposals").to_domain(UTC_TZ)
    assert quote.contacts == ()


def test_light_list_item_and_array_options_quirks() -> None:
    # GET /proposals with properties: only some keys; array_options [] when no extrafield
    light = {"id": "8", "ref": "PR2611-0007", "status": 1, "array_options": [], "fin_validite": 1795600800}
    quote = wire.parse(wire.WireQuote, light, "GET /proposals").to_domain(UTC_TZ)
    assert quote.opt_out is False
    assert quote.total_incl_tax == Decimal(0)
    assert quote.issue_date is None
    assert quote.main_document is None
    flagged = {**light, "array_options": {"options_norelance": "1"}}
    assert wire.parse(wire.WireQuote, flagged, "GET /proposals").to_domain(UTC_TZ).opt_out is True
    other_field = {**light, "array_options": {"options_nofollow": 1}}
    parsed = wire.parse(wire.WireQuote, other_field, "GET /proposals")
    assert parsed.to_domain(UTC_TZ, opt_out_field="nofollow").opt_out is True
    assert parsed.to_domain(UTC_TZ).opt_out is False


@pytest.mark.parametrize("empty", ["", None, 0, "0"])
def test_empty_dates_are_none(empty: object) -> None:
    body = {"id": "2", "ref": "PR1", "status": 1, "date": empty, "datep": empty, "fin_validite": empty}
    quote = wire.parse(wire.WireQuote, body, "GET /proposals").to_domain(UTC_TZ)
    assert quote.issue_date is None
    assert quote.end_of_validity is None


def test_date_only_fields_read_in_server_timezone() -> None:
    # 2026-11-27 23:30 UTC is already 2026-11-28 in Paris (server-local midnight shifted)
    epoch = int(datetime(2026, 11, 27, 23, 30, tzinfo=UTC).timestamp())
    body = {"id": "3", "ref": "PR3", "status": 1, "date": str(epoch), "fin_validite": epoch}
    assert wire.parse(wire.WireQuote, body, "r").to_domain(UTC_TZ).end_of_validity == date(2026, 11, 27)
    paris = wire.parse(wire.WireQuote, body, "r").to_domain(PARIS)
    assert paris.end_of_validity == date(2026, 11, 28)
    assert paris.issue_date == date(2026, 11, 28)


def test_entity_prefix_in_last_main_doc() -> None:
    assert wire.proposal_relative_path("2/propale/PR1/PR1.pdf") == "PR1/PR1.pdf"
    assert wire.proposal_relative_path("") is None


def test_validation_failure_names_route_and_field() -> None:
    with pytest.raises(DolibarrResponseError) as info:
        wire.parse(wire.WireQuote, {"id": "x1", "ref": "PR1", "status": 1}, "GET /proposals/{id}")
    assert "GET /proposals/{id}" in info.value.message
    assert "quote PR1 (id x1): field id = 'x1'" in info.value.message
    assert info.value.remedy is not None and "in Dolibarr" in info.value.remedy
    with pytest.raises(DolibarrResponseError, match="status"):
        wire.parse(wire.WireQuote, {"id": "1", "ref": "PR1", "status": 9}, "GET /proposals")


def test_parse_list_names_the_item() -> None:
    with pytest.raises(DolibarrResponseError, match=r"GET /thirdparties item 1"):
        wire.parse_list(wire.WireCustomer, [{"id": "1"}, {"name": "no id"}], "GET /thirdparties")
    with pytest.raises(DolibarrResponseError, match="expected a list"):
        wire.parse_list(wire.WireCustomer, {"id": "1"}, "GET /thirdparties")


def test_customer_email_null_and_contact_email_empty() -> None:
    # GET /thirdparties/4 (no email) and GET /contacts/3 (email "")
    customer = wire.parse(
        wire.WireCustomer,
        {
            "id": "4",
            "name": "Ferme des Trois Chênes",
            "email": None,
            "zip": "24200",
            "town": "Sarlat",
            "country_code": "FR",
            "code_client": "CU2611-00004",
            "phone": "0553000004",
            "array_options": [],
        },
        "GET /thirdparties/{id}",
    ).to_domain()
    assert customer.email is None
    assert customer.customer_code == "CU2611-00004"
    assert customer.address_lines == ("24200 Sarlat",)
    contact = wire.parse(
        wire.WireContact,
        {
            "id": "3",
            "socid": "2",
            "lastname": "Petit",
            "firstname": "Marc",
            "email": "",
            "civility_code": "MR",
            "statut": "1",
            "poste": "Gérant",
            "phone_pro": "",
        },
        "GET /contacts/{id}",
    ).to_domain()
    assert contact.email is None
    assert contact.customer_id == 2
    assert contact.job == "Gérant"
    assert contact.active


def test_user_rights_flattened_and_signature_plain_text() -> None:
    body = {
        "id": "7",
        "login": "cmartin",
        "firstname": "Claire",
        "lastname": "Martin",
        "email": "claire@example.test",
        "admin": "0",
        "socid": None,
        "signature": "<p>Claire Martin<br />Commerciale &amp; conseil</p><p>T&eacute;l 01&nbsp;23</p>",
        "rights": {
            "propal": {"lire": 1, "creer": "1", "supprimer": 0, "propal_advance": {"validate": True}},
            "agenda": {"myactions": {"read": 1, "create": 1}, "allactions": {"read": "0", "create": 1}},
            "societe": {"lire": 1, "client": {"voir": "1"}, "contact": {"lire": 1}},
            "user": {"user": {"lire": None}},
        },
    }
    user = wire.parse(wire.WireUser, body, "GET /users/info").to_domain()
    assert user.rights == frozenset(
        {
            "propal.lire",
            "propal.creer",
            "propal.propal_advance.validate",
            "agenda.myactions.read",
            "agenda.myactions.create",
            "agenda.allactions.create",
            "societe.lire",
            "societe.client.voir",
            "societe.contact.lire",
        }
    )
    assert user.has_right("agenda.allactions.create")
    assert not user.has_right("agenda.allactions.read")
    assert user.signature == "Claire Martin\nCommerciale & conseil\nTél 01 23"
    assert not user.admin
    assert not user.external
    external = wire.parse(wire.WireUser, {"id": 3, "login": "x", "socid": "12", "admin": 1}, "r").to_domain()
    assert external.external and external.admin


def test_representative_row_has_int_id() -> None:
    row = {
        "id": 2,
        "login": "bob",
        "firstname": "Bob",
        "lastname": "L",
        "email": "bob@x.test",
        "office_phone": "0102",
        "user_mobile": "0607",
        "job": "Sales",
        "status": "1",
    }
    user = wire.parse(wire.WireUser, row, "GET /thirdparties/{id}/representatives").to_domain()
    assert (user.id, user.mobile_phone, user.office_phone) == (2, "0607", "0102")


# GET /agendaevents/28 (transcript), main keys
EVENT_28 = {
    "id": "28",
    "array_options": [],
    "contacts_ids": None,
    "note_public": None,
    "note_private": "Relance téléphonique effectuée, client à rappeler",
    "type_id": "50",
    "type": "system",
    "type_code": "AC_OTH",
    "code": "AC_OTH",
    "label": "Relance devis PR2611-0001",
    "datec": 1795828819,
    "datep": 1795701600,
    "datef": 1795702500,
    "fulldayevent": "0",
    "percentage": "100",
    "userassigned": {"1": {"id": "1", "mandatory": "0", "answer_status": "0", "transparency": "0"}},
    "userownerid": "1",
    "socpeopleassigned": [],
    "socid": "1",
    "elementid": "1",
    "elementtype": "propal",
    "email_msgid": None,
}


def test_event_from_transcript_body() -> None:
    event = wire.parse(wire.WireEvent, EVENT_28, "GET /agendaevents/{id}").to_domain(PARIS)
    assert event.id == 28
    assert event.percentage == 100
    assert event.note == "Relance téléphonique effectuée, client à rappeler"
    assert event.start == datetime.fromtimestamp(1795701600, UTC)
    assert event.start.tzinfo is not None
    assert event.end == datetime.fromtimestamp(1795702500, UTC)
    assert event.owner_id == 1
    assert event.customer_id == 1
    assert (event.element_type, event.element_id) == ("propal", 1)
    assert event.contact_ids == ()
    assert event.email_msgid is None


def test_event_contacts_keys_and_empty_datef() -> None:
    body = {**EVENT_28, "datef": "", "socpeopleassigned": {"88": {"id": "88"}, "5": {"id": "5"}}}
    event = wire.parse(wire.WireEvent, body, "r").to_domain(UTC_TZ)
    assert event.contact_ids == (5, 88)
    assert event.end is None
    with pytest.raises(DolibarrResponseError, match="datep"):
        wire.parse(wire.WireEvent, {**EVENT_28, "datep": ""}, "GET /agendaevents")


def test_document_from_transcript_body() -> None:
    item = {
        "name": "PR2611-0001.pdf",
        "path": "/var/lib/dolibarr/documents/propale/PR2611-0001",
        "level1name": "PR2611-0001",
        "relativename": "PR2611-0001.pdf",
        "fullname": "/var/lib/dolibarr/documents/propale/PR2611-0001/PR2611-0001.pdf",
        "date": 1795828819,
        "size": 8900,
        "type": "file",
        "filepath": "propale/PR2611-0001",
        "gen_or_uploaded": "generated",
        "id": "3",
    }
    document = wire.parse(wire.WireDocument, item, "GET /documents").to_domain(UTC_TZ)
    assert document.relative_path == "PR2611-0001/PR2611-0001.pdf"
    assert document.size == 8900
    assert document.origin == "generated"
    assert document.is_pdf
    assert document.modified == datetime.fromtimestamp(1795828819, UTC)


def test_status_and_version() -> None:
    body = {
        "success": {
            "code": 200,
            "dolibarr_version": "20.0.0",
            "access_locked": "0",
            "environment": "non-production",
            "timestamp_php_tz": "UTC",
        }
    }
    status = wire.parse(wire.WireStatus, body, "GET /status").to_domain()
    assert status.version == (20, 0, 0)
    assert status.timezone == "UTC"
    assert wire.parse_version("21.0.0-beta") == (21, 0, 0)
    assert wire.parse_version("x") == ()


def test_extrafields() -> None:
    body = {
        "propal": {
            "norelance": {
                "id": "1",
                "type": "boolean",
                "label": "Ne pas relancer",
                "elementtype": "propal",
                "pos": "100",
            }
        }
    }
    fields = wire.extrafields_to_domain(body, "propal", "GET /setup/extrafields")
    assert [(f.name, f.type, f.label, f.element_type) for f in fields] == [
        ("norelance", "boolean", "Ne pas relancer", "propal")
    ]
    assert wire.extrafields_to_domain([], "propal", "r") == []
    assert wire.extrafields_to_domain({"societe": {}}, "propal", "r") == []


def test_company() -> None:
    body = {
        "name": "Ma Société",
        "address": "1 rue X\n2e étage",
        "zip": "75001",
        "town": "Paris",
        "country_code": "FR",
        "idprof1": "123456789",
        "idprof2": "12345678900012",
        "tva_intra": "FR00",
        "capital": 10000,
        "email": None,
    }
    company = wire.parse(wire.WireCompany, body, "GET /setup/company").to_domain()
    assert company.siren == "123456789"
    assert company.capital == "10000"
    assert company.email == ""
    assert company.address_lines == ("1 rue X", "2e étage", "75001 Paris")


def test_html_to_text() -> None:
    assert wire.html_to_text("a<br>b<br/>c &lt;d&gt;") == "a\nb\nc <d>"
    assert wire.html_to_text("") == ""
    tagged = '<p class="x">Hello</p><a href="mailto:a@b.test">a@b.test</a><!-- c -->'
    assert wire.html_to_text(tagged) == "Hello\na@b.test"


def test_html_to_text_keeps_addresses_in_angle_brackets() -> None:
    """A reply's sender and a bounce's reason keep the address a server or a mail client put in <...>."""
    note = "De : Jean Martin <jean@client.test><br>Raison : 550 5.1.1 <jean@client.test>: User unknown"
    assert wire.html_to_text(note).splitlines() == [
        "De : Jean Martin <jean@client.test>",
        "Raison : 550 5.1.1 <jean@client.test>: User unknown",
    ]
