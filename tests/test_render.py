"""The renderer: variables in French and English, variants, Dolibarr keys, errors."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dolirelance import starter
from dolirelance.config import ModelSettings, Settings, load_config
from dolirelance.domain import Contact
from dolirelance.errors import TemplateError
from dolirelance.render import FollowUpContext, Renderer, catalogue, sample_context, variables

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = Path(starter.__file__).parent / "defaults"
TODAY = date(2026, 11, 28)


def _spaces(text: str) -> str:
    return text.replace("\u202f", " ").replace("\u00a0", " ")


@pytest.fixture(scope="module")
def example_settings() -> Settings:
    return load_config(DEFAULTS / "dolirelance.toml")


def with_models(settings: Settings, *models: dict[str, Any]) -> Settings:
    return settings.model_copy(update={"models": [ModelSettings.model_validate(m) for m in models]})


def model(name: str = "M", **texts: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "email_subject": "S {{ quote.ref }}",
        "email_text": "T",
        "letter_subject": "LS",
        "letter_text": "L",
    }
    base.update(texts)
    return base


@pytest.fixture
def ctx() -> FollowUpContext:
    return sample_context(TODAY)


def english(ctx: FollowUpContext) -> FollowUpContext:
    return dataclasses.replace(ctx, customer=dataclasses.replace(ctx.customer, default_lang="en_US"))


def test_every_variable_in_french(ctx: FollowUpContext) -> None:
    v = variables(ctx, "fr")
    q = v["quote"]
    assert q["ref"] == "PR2611-0001"
    assert q["customer_ref"] == "CMD-2026-118"
    assert q["date"] == "8 novembre 2026"
    assert q["end_of_validity"] == "8 décembre 2026"
    assert (q["days_until_end"], q["days_since_end"]) == (10, 0)
    assert _spaces(q["total_incl_tax"]) == "1 448,00 €"
    assert _spaces(q["total_excl_tax"]) == "1 206,67 €"
    assert _spaces(q["total_tax"]) == "241,33 €"
    assert q["currency"] == "EUR"
    assert (q["date_iso"], q["end_of_validity_iso"]) == ("2026-11-08", "2026-12-08")
    assert q["amounts"]["excl_tax"] == Decimal("1206.67")
    assert v["customer"]["address_lines"] == ["3 place Bellecour", "Bâtiment B", "69002 Lyon"]
    assert v["customer"]["code"] == "CU2611-00042"
    c = v["contact"]
    assert (c["civility"], c["firstname"], c["lastname"], c["name"]) == (
        "Madame",
        "Julie",
        "Dupont",
        "Julie Dupont",
    )
    assert (c["greeting"], c["salutation"]) == ("Madame", "Madame")
    assert (
        v["user"]["signature"]
        == "Thomas Bernard\nChargé d'affaires\nSolaire Rhône-Alpes SARL\n04 78 00 00 01"
    )
    assert v["company"]["siret"] == "123 456 789 00012"
    assert v["followup"] == {
        "model": "1ère relance",
        "level": 1,
        "previous_date": "14 novembre 2026",
        "next_date": "13 décembre 2026",
    }
    assert (v["today"], v["lang"]) == ("28 novembre 2026", "fr")


def test_english_formats_and_greetings(ctx: FollowUpContext) -> None:
    v = variables(ctx, "en")
    assert v["quote"]["end_of_validity"] == "8 December 2026"
    assert v["quote"]["total_incl_tax"] == "€1,448.00"
    assert v["contact"]["greeting"] == "Dear Ms Dupont"
    mr = dataclasses.replace(ctx, contact=Contact(1, 42, "Paul", "Martin", civility="MR"))
    assert variables(mr, "en")["contact"]["greeting"] == "Dear Mr Martin"
    assert variables(mr, "fr")["contact"]["greeting"] == "Monsieur"
    nobody = dataclasses.replace(ctx, contact=None)
    assert variables(nobody, "en")["contact"]["greeting"] == "Dear Sir or Madam"
    assert variables(nobody, "fr")["contact"]["salutation"] == "Madame, Monsieur"
    unknown = dataclasses.replace(ctx, contact=Contact(2, 42, "Camille", "Roux"))
    assert variables(unknown, "fr")["contact"]["greeting"] == "Madame, Monsieur"
    assert variables(unknown, "fr")["contact"]["civility"] == ""


def test_days_since_end_and_dolibarr_signature(ctx: FollowUpContext) -> None:
    late = dataclasses.replace(ctx, today=date(2026, 12, 18))
    assert (
        variables(late, "fr")["quote"]["days_since_end"],
        variables(late, "fr")["quote"]["days_until_end"],
    ) == (
        10,
        0,
    )
    signed = dataclasses.replace(ctx, user=dataclasses.replace(ctx.user, signature="T. Bernard\nSolaire"))
    assert variables(signed, "fr")["user"]["signature"] == "T. Bernard\nSolaire"


def test_example_models_render_in_french_and_english(
    example_settings: Settings, ctx: FollowUpContext
) -> None:
    renderer = Renderer(example_settings)
    assert renderer.check(ctx) == []
    first = renderer.render("1ère relance", ctx)
    assert first.lang == "fr"
    assert first.email_subject == "Votre devis PR2611-0001 — Solaire Rhône-Alpes SARL"
    assert _spaces(first.email_text).startswith("Madame,\n\nLe 8 novembre 2026, nous vous avons adressé")
    assert "1 448,00 € TTC" in _spaces(first.letter_text)
    assert first.letter_text.endswith("salutations distinguées.\n")
    en = renderer.render("1ère relance", english(ctx))
    assert (en.lang, en.letter_language) == ("en", "fr")
    assert en.email_subject == "Your quote PR2611-0001 — Solaire Rhône-Alpes SARL"
    assert "for €1,206.67 excl. VAT (€1,448.00 incl. VAT), valid until 8 December 2026" in en.email_text
    assert (
        "8 novembre 2026" in en.letter_text
    )  # the letter has no English variant: French texts, French dates
    second = renderer.render("2nde relance", english(ctx))
    assert (second.lang, second.email_subject) == ("en", "Following up on quote PR2611-0001")
    assert "We last wrote to you about it on 14 November 2026." in second.email_text
    assert second.email_html is not None and "Kind regards" in second.email_html
    # No variant for the customer's language: the base French texts.
    german = dataclasses.replace(ctx, customer=dataclasses.replace(ctx.customer, default_lang="de_DE"))
    second = renderer.render("2nde relance", german)
    assert second.lang == "fr"
    assert "Nous vous avions déjà relancé le 14 novembre 2026." in second.email_text


def test_if_lines_leave_no_blank_lines(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(
        example_settings,
        model(email_text="\n\nA\n{% if followup.previous_date %}\nB\n{% endif %}\nC\n\n\n"),
    )
    assert Renderer(settings).render("M", ctx).email_text == "A\nB\nC\n"


def test_variant_fields_fall_back_to_base(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(
        example_settings, model(variants={"en": {"email_subject": "Quote {{ quote.ref }}"}})
    )
    out = Renderer(settings).render("M", english(ctx))
    assert (out.email_subject, out.email_text) == ("Quote PR2611-0001", "T\n")
    contact_lang = dataclasses.replace(
        ctx, contact=Contact(1, 42, "Ann", "Lee", civility="MME", default_lang="en_GB")
    )
    assert Renderer(settings).render("M", contact_lang).email_subject == "Quote PR2611-0001"


def test_subject_is_one_line(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(example_settings, model(email_subject="A\n{{ quote.ref }}\r\nB"))
    assert Renderer(settings).render("M", ctx).email_subject == "A PR2611-0001 B"


def test_html_part_is_escaped(example_settings: Settings, ctx: FollowUpContext) -> None:
    evil = dataclasses.replace(ctx, customer=dataclasses.replace(ctx.customer, name="A & <B>"))
    settings = with_models(
        example_settings, model(email_text="{{ customer.name }}", email_html="<p>{{ customer.name }}</p>")
    )
    out = Renderer(settings).render("M", evil)
    assert out.email_html is not None and "<p>A &amp; &lt;B&gt;</p>\n" in out.email_html  # inside the layout
    assert "<B>" not in out.email_html
    assert out.email_text == "A & <B>\n"  # the text stays unescaped
    assert out.email_text == "A & <B>\n"


def test_dolibarr_keys(example_settings: Settings, ctx: FollowUpContext) -> None:
    text = (
        "__REF__ __REF_CLIENT__ __THIRDPARTY_NAME__ __AMOUNT__ "
        "__USER_FULLNAME__ __MYCOMPANY_NAME__ __DATE_YMD__"
    )
    settings = with_models(example_settings, model(email_text=text))
    out = _spaces(Renderer(settings).render("M", ctx).email_text)
    assert out == (
        "PR2611-0001 CMD-2026-118 Boulangerie Martin 1 448,00 € "
        "Thomas Bernard Solaire Rhône-Alpes SARL 8 novembre 2026\n"
    )


def test_unknown_dolibarr_key_is_an_error(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(example_settings, model(email_text="ok\n__THIRDPARTY_NAM__"))
    with pytest.raises(TemplateError) as caught:
        Renderer(settings).render("M", ctx)
    message = str(caught.value)
    assert "model 'M', email_text, line 2" in message
    assert "__THIRDPARTY_NAM__" in message and "did you mean __THIRDPARTY_NAME__" in message


def test_unknown_variable_names_model_field_line_and_suggestion(
    example_settings: Settings, ctx: FollowUpContext
) -> None:
    settings = with_models(
        example_settings,
        model(variants={"en": {"letter_text": "Hello\n\n{% if true %}{{ quote.reff }}{% endif %}"}}),
    )
    with pytest.raises(TemplateError) as caught:
        Renderer(settings).render("M", english(ctx))
    message = str(caught.value)
    assert "model 'M', variant 'en', letter_text, line 3" in message
    assert "unknown variable quote.reff" in message
    assert "did you mean quote.ref" in message


def test_unknown_top_level_name(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(example_settings, model(email_subject="{{ costumer.name }}"))
    errors = Renderer(settings).check(ctx)
    assert len(errors) == 1
    assert "unknown variable costumer" in str(errors[0]) and "customer" in str(errors[0])


def test_syntax_error_names_line(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(example_settings, model(letter_text="a\nb\n{% if quote.ref %}unclosed"))
    errors = Renderer(settings).check(ctx)
    assert len(errors) == 1
    assert "model 'M', letter_text, line 3: template syntax error" in str(errors[0])


def test_runtime_error_names_line(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(example_settings, model(email_text="a\n{{ quote.ref.nope }}"))
    with pytest.raises(TemplateError) as caught:
        Renderer(settings).render("M", ctx)
    assert "model 'M', email_text, line 2" in str(caught.value)
    assert "nope" in str(caught.value)


def test_check_returns_every_error(example_settings: Settings, ctx: FollowUpContext) -> None:
    settings = with_models(
        example_settings,
        model("A", email_subject="{{ quote.nope }}", letter_text="{% for %}"),
        model("B", email_text="__NOPE__", variants={"en": {"email_text": "{{ user.nme }}"}}),
    )
    errors = Renderer(settings).check(ctx)
    texts = [str(error) for error in errors]
    assert len(errors) == 4, texts
    assert any("'A', email_subject" in t for t in texts)
    assert any("'A', letter_text" in t for t in texts)
    assert any("'B', email_text" in t and "__NOPE__" in t for t in texts)
    assert any("'B', variant 'en', email_text" in t and "user.name" in t for t in texts)


def test_error_in_file_names_the_file(tmp_path: Path, ctx: FollowUpContext) -> None:
    (tmp_path / "body.txt").write_text("Bonjour\n{{ contact.greting }}\n", encoding="utf-8")
    text = (DEFAULTS / "dolirelance.toml").read_text(encoding="utf-8")
    text = text.replace(
        'email_text_file = "templates/2nde-relance.email.txt"', 'email_text_file = "body.txt"'
    )
    (tmp_path / "dolirelance.toml").write_text(text, encoding="utf-8")
    (tmp_path / "templates").mkdir()
    for path in (DEFAULTS / "templates").iterdir():
        (tmp_path / "templates" / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    errors = Renderer(load_config(tmp_path / "dolirelance.toml")).check(ctx)
    assert len(errors) == 1
    assert f"{tmp_path / 'body.txt'}:2" in str(errors[0])
    assert "did you mean contact.greeting" in str(errors[0])


def test_unknown_model(example_settings: Settings, ctx: FollowUpContext) -> None:
    with pytest.raises(TemplateError, match="no model named 'X'"):
        Renderer(example_settings).render("X", ctx)


def test_catalogue_lists_dotted_names() -> None:
    names = catalogue()
    assert {
        "quote.ref",
        "quote.amounts.excl_tax",
        "contact.greeting",
        "followup.previous_date",
        "today",
    } <= set(names)
