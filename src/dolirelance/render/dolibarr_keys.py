"""Dolibarr's ``__KEYS__`` substitution: each key a model may use, rewritten to our Jinja expression."""

from __future__ import annotations

import difflib
import re

from dolirelance.errors import TemplateError
from dolirelance.render.source import Source

# Dolibarr substitution keys (getCommonSubstitutionArray, FormMail) → our Jinja expressions.
# Amount keys give the formatted amount: Dolibarr's raw "1448.00000000" is never what a letter wants.
DOLIBARR_ALIASES: dict[str, str] = {
    "__REF__": "quote.ref",
    "__REF_CLIENT__": "quote.customer_ref",
    "__REFCLIENT__": "quote.customer_ref",
    "__NOTE_PUBLIC__": "quote.note_public",
    "__DATE_YMD__": "quote.date",
    "__AMOUNT__": "quote.total_incl_tax",
    "__AMOUNT_FORMATED__": "quote.total_incl_tax",
    "__AMOUNT_EXCL_TAX__": "quote.total_excl_tax",
    "__AMOUNT_EXCL_TAX_FORMATED__": "quote.total_excl_tax",
    "__AMOUNT_VAT__": "quote.total_tax",
    "__AMOUNT_VAT_FORMATED__": "quote.total_tax",
    "__TOTAL_TTC__": "quote.total_incl_tax",
    "__TOTAL_HT__": "quote.total_excl_tax",
    "__TOTAL_VAT__": "quote.total_tax",
    "__THIRDPARTY_NAME__": "customer.name",
    "__THIRDPARTY_EMAIL__": "customer.email",
    "__THIRDPARTY_ADDRESS__": "customer.address",
    "__THIRDPARTY_ZIP__": "customer.zip",
    "__THIRDPARTY_TOWN__": "customer.town",
    "__THIRDPARTY_PHONE__": "customer.phone",
    "__THIRDPARTY_CODE_CLIENT__": "customer.code",
    "__CONTACTCIVNAME__": "contact.civility_name",
    "__CONTACT_NAME__": "contact.name",
    "__CONTACT_FIRSTNAME__": "contact.firstname",
    "__CONTACT_LASTNAME__": "contact.lastname",
    "__CONTACT_EMAIL__": "contact.email",
    "__USER_SIGNATURE__": "user.signature",
    "__SENDEREMAIL_SIGNATURE__": "user.signature",
    "__USER_FULLNAME__": "user.name",
    "__USER_FIRSTNAME__": "user.firstname",
    "__USER_LASTNAME__": "user.lastname",
    "__USER_EMAIL__": "user.email",
    "__USER_PHONE__": "user.phone",
    "__USER_JOB__": "user.job",
    "__MYCOMPANY_NAME__": "company.name",
    "__MYCOMPANY_EMAIL__": "company.email",
    "__MYCOMPANY_PHONE__": "company.phone",
    "__MYCOMPANY_ADDRESS__": "company.address",
    "__MYCOMPANY_ZIP__": "company.zip",
    "__MYCOMPANY_TOWN__": "company.town",
    "__MYCOMPANY_PROFID1__": "company.siren",
    "__MYCOMPANY_PROFID2__": "company.siret",
    "__MYCOMPANY_PROFID3__": "company.ape",
    "__MYCOMPANY_PROFID4__": "company.rcs",
    "__MYCOMPANY_CAPITAL__": "company.capital",
    "__NOW_TMS_YMD__": "today",
}
ALIAS_RE = re.compile(r"__[A-Z][A-Z0-9_]*__")


def alias_expression(match: re.Match[str], source: Source, text: str, errors: list[TemplateError]) -> str:
    key = match.group(0)
    expression = DOLIBARR_ALIASES.get(key)
    if expression is None:
        line = text.count("\n", 0, match.start()) + 1
        close = difflib.get_close_matches(key, list(DOLIBARR_ALIASES), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        errors.append(
            TemplateError(
                f"{source.where(line)}: unknown Dolibarr key {key}{hint}",
                remedy="the Dolibarr keys accepted are listed in docs/templates.md",
            )
        )
        return key
    return "{{ " + expression + " }}"
