"""The packaged default models read right for every addressee and both sides of the end of validity."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from dolirelance import starter
from dolirelance.config import Settings, load_config
from dolirelance.htmlmail import html_to_text
from dolirelance.render import RenderedFollowUp, Renderer, sample_contexts

TODAY = date(2026, 11, 28)
DEFAULTS = Path(starter.__file__).parent / "defaults"


def spaces(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


@pytest.fixture(scope="module")
def default_settings() -> Settings:
    return load_config(DEFAULTS / "dolirelance.toml")


def rendered_all(settings: Settings) -> list[tuple[str, str, RenderedFollowUp]]:
    renderer = Renderer(settings)
    return [
        (label, model, renderer.render(model, ctx))
        for label, ctx in sample_contexts(TODAY)
        for model in renderer.model_names
    ]


def texts(rendered: RenderedFollowUp) -> dict[str, str]:
    return {"e-mail": rendered.email_text, "letter": rendered.letter_text}


def test_greeting_follows_the_addressee(default_settings: Settings) -> None:
    """Madame for a contact with civility; 'Madame, Monsieur,' for a contact without one and for a company."""
    for label, model, rendered in rendered_all(default_settings):
        for kind, text in texts(rendered).items():
            first = text.splitlines()[0]
            expected = "Madame," if label.startswith("a contact with a civility") else "Madame, Monsieur,"
            assert first == expected, (label, model, kind, first)
            if kind == "letter":
                salutation = "Madame" if label.startswith("a contact with a civility") else "Madame, Monsieur"
                assert f"d'agréer, {salutation}, l'expression" in text, (label, model)


def test_validity_wording_follows_the_end_of_validity(default_settings: Settings) -> None:
    """Before the end: 'valable jusqu'au'; after it: 'arrivée à échéance le', never 'valable jusqu'au'."""
    for label, model, rendered in rendered_all(default_settings):
        for kind, text in texts(rendered).items():
            flat = spaces(text)
            if label.endswith("after the end of validity"):
                assert "valable jusqu'au" not in flat and "arrivée à échéance le 18 novembre 2026" in flat, (
                    label,
                    model,
                    kind,
                )
            else:
                assert "valable jusqu'au 3 décembre 2026" in flat and "échéance" not in flat, (label, model, kind)


def test_every_default_model_shows_the_amount_the_same_way(default_settings: Settings) -> None:
    for label, model, rendered in rendered_all(default_settings):
        for kind, text in texts(rendered).items():
            assert "d'un montant de 1 206,67 € HT (1 448,00 € TTC)" in spaces(text), (label, model, kind)


def test_english_variant_says_expired_too(default_settings: Settings) -> None:
    renderer = Renderer(default_settings)
    _, ctx = sample_contexts(TODAY)[1]  # a contact with a civility, after the end of validity
    english = replace(ctx, customer=replace(ctx.customer, default_lang="en_GB"))
    text = spaces(renderer.render("1ère relance", english).email_text)
    assert "for €1,206.67 excl. VAT (€1,448.00 incl. VAT), which expired on 18 November 2026." in text


def test_english_variants_go_as_english_text_and_html_for_every_addressee(default_settings: Settings) -> None:
    """Each default model has an English text and HTML saying the same: English greeting, validity
    wording, amounts and dates; the letter, which has no English variant, stays French."""
    renderer = Renderer(default_settings)
    for label, ctx in sample_contexts(TODAY):
        english = replace(ctx, customer=replace(ctx.customer, default_lang="en_GB"))
        for model in renderer.model_names:
            rendered = renderer.render(model, english)
            where = (label, model)
            assert (rendered.lang, rendered.letter_language) == ("en", "fr"), where
            assert rendered.email_html is not None and '<html lang="en">' in rendered.email_html, where
            html_text = spaces(html_to_text(rendered.email_html))
            greeting = "Dear Ms Dupont," if label.startswith("a contact with a civility") else "Dear Sir or Madam,"
            assert rendered.email_text.splitlines()[0] == greeting, where
            assert f"SARL {greeting} " in html_text, where  # the body opens under the company's name
            for kind, text in (("text", rendered.email_text), ("html", html_text)):
                flat = spaces(text)
                assert "for €1,206.67 excl. VAT (€1,448.00 incl. VAT)" in flat, (*where, kind)
                assert "8 November 2026" in flat, (*where, kind)
                if label.endswith("after the end of validity"):
                    assert "which expired on 18 November 2026." in flat and "valid until" not in flat, (*where, kind)
                else:
                    assert "valid until 3 December 2026." in flat and "expired" not in flat, (*where, kind)
                assert "Kind regards," in flat, (*where, kind)
                for french in ("Madame", "devis", "TTC", "cordialement", "novembre", "€ HT"):
                    assert french not in flat, (*where, kind, french)
            for line in rendered.email_text.splitlines():
                if line.strip():
                    assert spaces(line) in html_text, (*where, line)
            assert "Madame" in rendered.letter_text or "Monsieur" in rendered.letter_text, where


def test_previous_follow_up_mentioned_only_when_on_an_earlier_day(default_settings: Settings) -> None:
    """A letter the same day as an e-mail does not say 'we already wrote to you on <today>'."""
    renderer = Renderer(default_settings)
    _, ctx = sample_contexts(TODAY)[0]
    same_day = renderer.render("2nde relance", replace(ctx, previous_date=TODAY))
    assert "déjà" not in same_day.letter_text and "déjà" not in same_day.email_text
    earlier = renderer.render("2nde relance", replace(ctx, previous_date=TODAY - timedelta(days=14)))
    assert "Nous vous avions déjà écrit le 14 novembre 2026" in earlier.letter_text
    assert "Nous vous avions déjà relancé le 14 novembre 2026" in earlier.email_text
    english = replace(ctx, customer=replace(ctx.customer, default_lang="en_US"))
    same_day_en = renderer.render("2nde relance", replace(english, previous_date=TODAY))
    assert "We last wrote" not in same_day_en.email_text and "We last wrote" not in str(same_day_en.email_html)
    earlier_en = renderer.render("2nde relance", replace(english, previous_date=TODAY - timedelta(days=14)))
    for body in (earlier_en.email_text, str(earlier_en.email_html)):
        assert "We last wrote to you about it on 14 November 2026." in body


def test_sample_contexts_cover_three_addressees_on_both_sides() -> None:
    contexts = sample_contexts(TODAY)
    assert len(contexts) == 6
    kinds = {ctx.contact.civility if ctx.contact else "company" for _, ctx in contexts}
    assert kinds == {"MME", None, "company"}
    assert {ctx.quote.end_of_validity is not None and ctx.quote.end_of_validity < TODAY for _, ctx in contexts} == {
        True,
        False,
    }


async def test_an_email_to_the_company_address_greets_the_company(runtime: Any, sample_data: Any) -> None:
    """The quote's only contact has no e-mail: the mail goes to the customer's address and opens
    'Madame, Monsieur,' (not 'Monsieur,' for a contact who will not read it); a letter goes to the contact."""
    from dolirelance import service
    from dolirelance.domain import Channel

    me = await runtime.me()
    ref = sample_data.refs["contact_without_email"]
    email = await service.prepare_followup(runtime, ref, channel=Channel.EMAIL, acting_user=me)
    assert [r.email for r in email.recipients] == ["accueil@garage-dupont.test"]
    assert email.contact is None
    assert email.rendered.email_text.startswith("Madame, Monsieur,\n")
    letter = await service.prepare_followup(runtime, ref, channel=Channel.LETTER, acting_user=me)
    assert letter.contact is not None and letter.contact.lastname == "Petit"
    assert letter.rendered.letter_text.startswith("Monsieur,\n")
