"""Sample follow-ups: for ``config check``, previews and the catalogue; the hostile one at the wire's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from dolirelance.dolibarr.wire import MAX_AMOUNT, MAX_TEXT_LENGTH, MAX_YEAR
from dolirelance.domain import Company, Customer, Quote, QuoteContact, QuoteStatus, User
from dolirelance.render.context import FollowUpContext


def sample_context(today: date) -> FollowUpContext:
    """A realistic French follow-up, for ``config check`` and previews."""
    issued = today - timedelta(days=20)
    company = Company(
        name="Solaire Rhône-Alpes SARL",
        address="12 rue de la République",
        zip="69002",
        town="Lyon",
        country_code="FR",
        email="contact@solaire-ra.fr",
        phone="04 78 00 00 00",
        url="https://www.solaire-ra.fr",
        siren="123 456 789",
        siret="123 456 789 00012",
        ape="4321A",
        rcs="RCS Lyon B 123 456 789",
        vat_number="FR12123456789",
        capital="50 000 €",
    )
    customer = Customer(
        id=42,
        name="Boulangerie Martin",
        email="contact@boulangerie-martin.fr",
        address="3 place Bellecour\nBâtiment B",
        zip="69002",
        town="Lyon",
        country_code="FR",
        customer_code="CU2611-00042",
        phone="04 72 00 00 42",
        default_lang="fr_FR",
    )
    contact = QuoteContact(
        contact_id=12,
        type_code="CUSTOMER",
        source="external",
        firstname="Julie",
        lastname="Dupont",
        email="julie.dupont@boulangerie-martin.fr",
        civility="MME",
    )
    quote = Quote(
        id=7,
        ref="PR2611-0001",
        customer_id=customer.id,
        status=QuoteStatus.OPEN,
        issue_date=issued,
        end_of_validity=issued + timedelta(days=30),
        total_excl_tax=Decimal("1206.67"),
        total_tax=Decimal("241.33"),
        total_incl_tax=Decimal("1448.00"),
        currency="EUR",
        customer_ref="CMD-2026-118",
        main_document="PR2611-0001/PR2611-0001.pdf",
        contacts=(contact,),
    )
    user = User(
        id=3,
        login="tbernard",
        firstname="Thomas",
        lastname="Bernard",
        email="thomas.bernard@solaire-ra.fr",
        office_phone="04 78 00 00 01",
        job="Chargé d'affaires",
    )
    return FollowUpContext(
        quote=quote,
        customer=customer,
        contact=contact,
        user=user,
        company=company,
        model_name="1ère relance",
        level=1,
        previous_date=today - timedelta(days=14),
        next_date=today + timedelta(days=15),
        today=today,
    )


# The addressees every model must read right for (`config check` renders each, both sides of the end of validity).
ADDRESSEE_KINDS = ("a contact with a civility", "a contact without civility", "the company (no contact)")


def sample_contexts(today: date) -> list[tuple[str, FollowUpContext]]:
    """The sample follow-up for each kind of addressee, before and after the end of validity."""
    base = sample_context(today)
    contact = base.contact
    assert isinstance(contact, QuoteContact)
    addressees: dict[str, QuoteContact | None] = {
        ADDRESSEE_KINDS[0]: contact,
        ADDRESSEE_KINDS[1]: replace(contact, civility=None),
        ADDRESSEE_KINDS[2]: None,
    }
    validity = {
        "before the end of validity": today + timedelta(days=5),
        "after the end of validity": today - timedelta(days=10),
    }
    contexts = []
    for who, addressee in addressees.items():
        for when, end in validity.items():
            quote = replace(base.quote, end_of_validity=end, contacts=(addressee,) if addressee else ())
            contexts.append((f"{who}, {when}", replace(base, quote=quote, contact=addressee)))
    return contexts


def hostile_context(today: date) -> FollowUpContext:
    """The sample follow-up with every value at the largest size the wire models accept.

    ``config check`` renders every model with it, so a model that fits real data today cannot
    exceed the limits on tomorrow's longest customer name or note.
    """
    ctx = sample_context(today)
    line = "Ê" * 255
    long_text = ("\n".join([line] * (MAX_TEXT_LENGTH // 256 + 1)))[:MAX_TEXT_LENGTH]
    amount = MAX_AMOUNT - Decimal("0.01")
    assert isinstance(ctx.contact, QuoteContact)
    contact = replace(ctx.contact, firstname=line, lastname=line, email="x" * 64 + "@" + "y" * 185 + ".fr")
    return replace(
        ctx,
        quote=replace(
            ctx.quote,
            ref="PR" + "9" * 126,
            customer_ref=line,
            note_public=long_text,
            total_excl_tax=amount,
            total_tax=amount,
            total_incl_tax=amount,
            end_of_validity=date(MAX_YEAR, 12, 31),
            contacts=(contact,),
        ),
        customer=replace(ctx.customer, name=line, address="\n".join([line] * 4), town=line, zip=line[:32]),
        contact=contact,
        user=replace(ctx.user, signature=long_text, signature_html=long_text, firstname=line, lastname=line, job=line),
        company=replace(ctx.company, name=line, address="\n".join([line] * 4)),
    )
