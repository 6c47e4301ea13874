"""The pages word each error by its typed kind (``ErrorCode``), in French and English, never by its English text."""

from __future__ import annotations

import inspect
import re

import pytest

from dolirelance import errors
from dolirelance.domain import Channel
from dolirelance.errors import ConfigError, ConfigProblem, DolirelanceError, ErrorCode, NoCustomerMatch
from dolirelance.service import FollowUpOutcome
from dolirelance.web.labels import LABELS
from dolirelance.web.user_errors import WORDS, outcome_note, page_error, plan_note
from test_web import Web, run_mass
from test_web import web as web  # the fixture, shared

ERROR_CLASSES = [
    cls for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, DolirelanceError) and cls.__module__ == errors.__name__
]
REWORDED = "zz reworded english text zz"


def _reworded(cls: type[DolirelanceError]) -> DolirelanceError:
    """An error of ``cls`` whose English message and remedy are nothing like today's."""
    if cls is ConfigError:
        return ConfigError([ConfigProblem("x.toml", 1, "smtp", REWORDED)], remedy=REWORDED)
    if cls is NoCustomerMatch:
        return NoCustomerMatch("Durand", remedy=REWORDED)
    return cls(REWORDED, remedy=REWORDED)


def test_every_error_kind_has_words_in_french_and_english() -> None:
    """A kind added to ErrorCode without its French (or English) words fails here."""
    missing = [code for code in ErrorCode if code not in WORDS]
    assert not missing, f"no words for {missing} in web/user_errors.py WORDS"
    for code, words in WORDS.items():
        for name in filter(None, (words.message, words.remedy)):
            french, english = LABELS["fr"].get(name), LABELS["en"].get(name)
            assert french and english, f"{code}: label {name!r} missing in fr or en"
            assert french != english, f"{code}: label {name!r} is not translated into French"


def test_every_error_class_names_its_own_kind() -> None:
    """A new error class must say its kind (and so get its words), not silently inherit its parent's."""
    assert len(ERROR_CLASSES) >= 25
    without = [cls.__name__ for cls in ERROR_CLASSES if "code" not in vars(cls)]
    assert not without, f"error classes without their own `code`: {without}"
    by_code: dict[ErrorCode, str] = {}
    for cls in ERROR_CLASSES:
        assert cls.code not in by_code, f"{cls.__name__} and {by_code[cls.code]} share {cls.code}"
        by_code[cls.code] = cls.__name__
    assert set(by_code) == set(ErrorCode)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_a_reworded_message_leaves_the_french_page_unchanged(cls: type[DolirelanceError]) -> None:
    """The page's words come from the kind: the English text is at most the collapsed technical detail."""
    exc = _reworded(cls)
    shown = page_error(exc, "fr")
    words = WORDS[cls.code]
    expected = LABELS["fr"][words.message]
    assert shown.message == (expected.format(text="Durand") if cls is NoCustomerMatch else expected)
    assert shown.remedy == (LABELS["fr"][words.remedy] if words.remedy else None)
    assert REWORDED not in shown.message and REWORDED not in (shown.remedy or "")
    assert (shown.detail is not None and REWORDED in shown.detail) == words.keep_detail


def _outcome(outcome: str, code: ErrorCode | None) -> FollowUpOutcome:
    return FollowUpOutcome("PR2611-0001", "Garage", "1ère relance", Channel.EMAIL, outcome,  # type: ignore[arg-type]
                           error=REWORDED, error_code=code)


@pytest.mark.parametrize(
    ("outcome", "code", "label"),
    [
        ("refused", ErrorCode.ALREADY_DONE, "already_done"),
        ("refused", ErrorCode.RECENT, "recent_held"),
        ("refused", ErrorCode.IN_PROGRESS, "err_in_progress"),
        ("refused", None, "err_in_progress"),
        ("failed", ErrorCode.NO_EMAIL, "no_email_short"),
        ("failed", ErrorCode.QUOTE_NOT_OPEN, "quote_not_open"),
        ("failed", ErrorCode.MAIL_PERMANENT, "err_mail"),
        ("failed", ErrorCode.DOLIBARR_REQUEST, "err_dolibarr_refused"),
        ("failed", ErrorCode.TEMPLATE, "err_template"),
        ("failed", None, "err_generic"),
        ("uncertain", None, "err_mail_uncertain"),
        ("sent-not-recorded", None, "not_recorded_yet"),
    ],
)
def test_mass_outcomes_are_worded_by_their_kind(outcome: str, code: ErrorCode | None, label: str) -> None:
    for lang in ("fr", "en"):
        note = outcome_note(_outcome(outcome, code), lang)
        assert note is not None and note.message == LABELS[lang][label]
        assert REWORDED not in note.message and REWORDED not in (note.remedy or "")


def test_every_kind_words_a_mass_line_or_outcome_in_french() -> None:
    for code in ErrorCode:
        assert plan_note(code, "fr") in LABELS["fr"].values()
        note = outcome_note(_outcome("failed", code), "fr")
        assert note is not None and note.message in LABELS["fr"].values()


async def test_a_mass_run_says_in_french_why_each_quote_was_left_out(web: Web) -> None:
    """Signed meanwhile, no address for an e-mail, followed up a moment ago: each in its French words."""
    await web.login()
    refs = web.sample.refs
    done = await web.client.post("/followup/new", data={"csrf": await web.csrf(), "channel": "letter",
                                                        "quote": str(web.sample.quotes["two_contacts"])})
    assert done.status_code == 200 and 'id="done"' in done.text
    web.fake.close_proposal(web.sample.quotes["expired"], 2, user_id=web.sample.users["jdupont"])
    preview = await web.client.post("/mass", data={"csrf": await web.csrf(), "letter": [refs["expired"]],
                                                   "email": [refs["no_email"], refs["two_contacts"]]})
    assert preview.status_code == 200
    held = {ref: re.search(rf'<tr data-ref="{ref}" class="held">.*?</tr>', preview.text, re.S)
            for ref in (refs["expired"], refs["no_email"], refs["two_contacts"])}
    assert all(held.values()), preview.text
    assert "Ce devis n&#39;est plus ouvert" in held[refs["expired"]].group(0)  # type: ignore[union-attr]
    assert "pas d&#39;adresse e-mail : choisissez le courrier" in held[refs["no_email"]].group(0)  # type: ignore[union-attr]
    assert "relancé le" in held[refs["two_contacts"]].group(0)  # type: ignore[union-attr]
    result = await run_mass(web, {"letter": [refs["expired"]], "email": [refs["no_email"], refs["two_contacts"]]})
    page = result.text
    assert result.status_code == 200 and page.count('class="ko"') == 3, page
    assert "Ce devis n&#39;est plus ouvert" in page
    assert "pas d&#39;adresse e-mail : choisissez le courrier" in page
    assert "Relancé il y a peu : écarté" in page
    for english in ("is signed", "no e-mail address", "less than"):
        assert english not in page, english


def test_the_tree_in_the_docstring_is_the_tree() -> None:
    """errors.py draws its classes and their codes: the drawing matches the classes."""
    drawn = dict(re.findall(r"^[\s│├└─]*([A-Z]\w+)\s{2,}([a-z-]+)$", errors.__doc__ or "", re.M))
    assert drawn == {cls.__name__: cls.code.value for cls in ERROR_CLASSES}
