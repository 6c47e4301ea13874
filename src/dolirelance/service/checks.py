"""``dolirelance doctor`` and ``dolirelance setup``: is everything in place, and what to do if not."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dolirelance.config import REPLY_TO_REMEDY, ImapSettings, Settings
from dolirelance.dolibarr import DolibarrClient
from dolirelance.dolibarr.versions import REPRESENTATIVES_BROKEN, TESTED_RANGE, in_tested_range, quirks_for
from dolirelance.domain import QuoteFilter, User
from dolirelance.errors import (
    DolibarrAuthError,
    DolibarrError,
    DolibarrRequestError,
    DolirelanceError,
    SetupIncomplete,
)
from dolirelance.imap import FolderState, RepliesMailbox
from dolirelance.mail import check_connection
from dolirelance.oauth import TokenSource, shared_token_source
from dolirelance.rights import RIGHTS
from dolirelance.service.access import Access, access_configured, access_of, groups_menu, refusal
from dolirelance.service.auto import auto_rules, plan_run
from dolirelance.service.runtime import Runtime, ledger_location, open_ledger, open_runtime

if TYPE_CHECKING:
    from dolirelance.ledger import Ledger

OPT_OUT_LABEL = "Ne pas relancer automatiquement"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    remedy: str | None = None
    warning: bool = False


async def _opt_out_field_exists(settings: Settings, rt_client: object) -> bool | None:
    """True/False when known; None when this user may not tell (not admin and no probe possible)."""
    from dolirelance.dolibarr import DolibarrClient

    assert isinstance(rt_client, DolibarrClient)
    field = settings.followup.opt_out_field
    try:
        return any(extra.name == field for extra in await rt_client.list_extrafields("propal"))
    except DolibarrAuthError:
        pass
    # Not admin: a filter on the column tells (an unknown column is an SQL error in Dolibarr).
    try:
        await rt_client.list_quotes(QuoteFilter(refs=("DOLIRELANCE-PROBE",), exclude_opt_out=True, opt_out_field=field))
    except DolibarrRequestError:
        return False
    return True


def version_checks(version: tuple[int, ...], version_text: str) -> list[Check]:
    """Whether the version is in the tested range, and one line per known quirk the client works around."""
    low, high = TESTED_RANGE
    checks: list[Check] = []
    if not in_tested_range(version):
        checks.append(
            Check(
                "Dolibarr version",
                False,
                f"{version_text or '(unknown)'} is outside the tested range {low} to {high}",
                "it may work; report what fails with this version",
                warning=True,
            )
        )
    for quirk in quirks_for(version):
        checks.append(Check(f"quirk {quirk.key}", True, quirk.what))
    return checks


async def auto_cap_check(rt: Runtime) -> Check:
    """How many automatic follow-ups today's run would send, against ``[auto] max_per_run``."""
    cap = rt.settings.auto.max_per_run
    try:
        planned = await plan_run(rt, rt.today(), auto_rules(rt))
    except DolirelanceError as exc:
        return Check("automatic follow-ups", False, f"cannot plan today's run: {exc.message}", exc.remedy, warning=True)
    due = planned.due_before_cap
    enabled = "" if rt.settings.auto.enabled else " if enabled"
    if due <= cap:
        return Check("automatic follow-ups", True, f"{due} due today{enabled}; [auto] max_per_run = {cap}")
    return Check(
        "automatic follow-ups",
        False,
        f"{due} due today{enabled}, more than [auto] max_per_run = {cap}: a run sends the {cap} most urgent "
        f"and defers the other {due - cap} to the next runs",
        "raise [auto] max_per_run to send more at once (mind the SMTP server's limits), or keep it: "
        "`dolirelance run --once --dry-run` lists what each run would send",
        warning=True,
    )


def _create_group_remedy(name: str) -> str:
    return (
        "Dolibarr's REST API cannot create groups: in Dolibarr, "
        + groups_menu(" > Nouveau groupe", " > New group")
        + f", name '{name}', then add its members on the group's card"
    )


def _configured_groups(settings: Settings) -> list[tuple[str, str]]:
    access = settings.access
    groups = [("senders_group", access.senders_group), ("readers_group", access.readers_group)]
    return [(key, name) for key, name in groups if name is not None]


async def access_checks(rt: Runtime, user: User) -> list[Check]:
    """``[access]``: each configured group exists and has members (listed); the API key's user may send."""
    checks: list[Check] = []
    for key, name in _configured_groups(rt.settings):
        label = f"access {key}"
        try:
            group = await rt.dolibarr.find_group(name)
        except DolibarrAuthError as exc:
            checks.append(Check(label, False, f"cannot read the group '{name}': {exc.message}", exc.remedy,
                                warning=True))
            continue
        may = "send" if key == "senders_group" else "read"
        if group is None:
            checks.append(Check(label, False, f"the group '{name}' does not exist in Dolibarr: nobody but "
                                f"administrators may {may}", _create_group_remedy(name)))
        elif not group.members:
            add_members = "add its members in Dolibarr: " + groups_menu(f" > {name} > Ajouter", f" > {name} > Add")
            checks.append(Check(label, False, f"the group '{name}' is empty: nobody but administrators may {may}",
                                add_members, warning=True))
        else:
            logins = ", ".join(sorted(member.login for member in group.members))
            checks.append(Check(label, True, f"'{name}': {len(group.members)} member(s): {logins}"))
    try:
        level = await access_of(rt, user)
    except DolirelanceError as exc:
        checks.append(Check("access API user", False, exc.message, exc.remedy, warning=True))
        return checks
    if level < Access.SEND and rt.settings.access.module_rights:
        refused = refusal(rt.settings.access, user, Access.SEND)
        checks.append(Check("access API user", False, f"{refused.message}: `remind`, `mass`, `retry`, `run` and the "
                            "daemon with this key will refuse to send", refused.remedy, warning=True))
    elif level < Access.SEND:
        senders = rt.settings.access.senders_group
        checks.append(Check("access API user", False, f"{user.login} is not in the group '{senders}': `remind`, "
                            "`mass`, `retry`, `run` and the daemon with this key will refuse to send",
                            f"if this key must send, add {user.login} to '{senders}' in Dolibarr: "
                            + groups_menu(f" > {senders} > Ajouter", f" > {senders} > Add"),
                            warning=True))
    return checks


SERVICE_KEY_RIGHTS = ("agenda.allactions.read", "agenda.allactions.create")


async def service_key_check(client: DolibarrClient) -> Check:
    """``[dolibarr] service_api_key``: whose key it is, and whether it may read and write everyone's events."""
    try:
        user = await client.current_user()
    except DolibarrError as exc:
        return Check("service key", False, f"[dolibarr] service_api_key: {exc.message}", exc.remedy)
    missing = [right for right in SERVICE_KEY_RIGHTS if not user.has_right(right)]
    if missing:
        return Check(
            "service key",
            False,
            f"{user.login} lacks {', '.join(missing)}: colleagues' follow-ups and to-dos stay out of its reach",
            f"grant them to {user.login} in Users & Groups > Permissions (docs/dolibarr-setup.md)",
            warning=True,
        )
    return Check("service key", True, f"{user.login}: reads every user's follow-ups, gives and closes their to-dos")


async def run_doctor(settings: Settings) -> list[Check]:
    not_yet = _sqlite_ledger_file(settings)
    if not_yet is None or not_yet.exists():
        return await _doctor_checks(settings)
    # No ledger yet: doctor looks without creating it; today's plan reads an empty one in a scratch folder.
    from dolirelance.ledger import Ledger

    with tempfile.TemporaryDirectory(prefix="dolirelance-doctor-") as scratch:
        empty = Ledger(f"sqlite:///{Path(scratch) / 'ledger.sqlite3'}", instance=settings.ledger.instance)
        try:
            return await _doctor_checks(settings, empty)
        finally:
            empty.close()


async def _doctor_checks(settings: Settings, stand_in_ledger: Ledger | None = None) -> list[Check]:
    checks: list[Check] = [Check("configuration", True, f"{len(settings.models)} model(s) loaded")]
    user: User | None = None
    try:
        async with open_runtime(settings, ledger=stand_in_ledger) as rt:
            status = await rt.dolibarr.status()
            checks.append(Check("Dolibarr", True, f"version {status.version_text} at {settings.dolibarr.url}"))
            checks.extend(version_checks(status.version, status.version_text))
            user = await rt.me()
            kind = "admin" if user.admin else ("external user" if user.external else "user")
            checks.append(Check("API user", True, f"{user.login} ({user.full_name}, {kind})"))
            if user.external:
                checks.append(
                    Check(
                        "API user",
                        False,
                        "is an external user: it only sees its own third party",
                        "use an internal user for dolirelance",
                    )
                )
            no_representatives = REPRESENTATIVES_BROKEN.applies_to(status.version)
            for right in RIGHTS:
                granted = user.has_right(right.name)
                why = right.why
                if right.name == "user.user.lire" and no_representatives:
                    why += " (on this version: the quote authors who sign automatic mails)"
                checks.append(
                    Check(
                        f"right {right.name}",
                        granted,
                        why if granted else f"missing: cannot {why}",
                        None if granted else f"grant it to {user.login} in Users & Groups > Permissions",
                        warning=not right.required,
                    )
                )
            if rt.service_dolibarr is not None:
                checks.append(await service_key_check(rt.service_dolibarr))
            exists = await _opt_out_field_exists(settings, rt.dolibarr)
            field = settings.followup.opt_out_field
            if exists:
                checks.append(Check("opt-out extrafield", True, f"proposals have '{field}'"))
            else:
                checks.append(
                    Check(
                        "opt-out extrafield",
                        False,
                        f"proposals have no extrafield '{field}'",
                        "run `dolirelance setup` with an admin key, or create it in Dolibarr (docs/dolibarr-setup.md)",
                        warning=True,
                    )
                )
            if not settings.access.module_rights and any(right.startswith("dolirelance.") for right in user.rights):
                checks.append(Check(
                    "access", False, "the Dolibarr module « Relances devis (dolirelance) » is installed (the API "
                    "user has its rights), but its rights do not decide who sends: [access] module_rights is off",
                    "set [access] module_rights = true (docs/dolibarr-setup.md, section 9)", warning=True,
                ))  # fmt: skip
            if access_configured(settings.access):
                checks.extend(await access_checks(rt, user))
            if settings.auto.steps:
                checks.append(await auto_cap_check(rt))
            try:
                company = await rt.company()
                checks.append(Check("company", True, f"{company.name} {company.town}".strip()))
            except (DolibarrError, SetupIncomplete) as exc:
                checks.append(Check("company", False, exc.message, exc.remedy))
    except DolirelanceError as exc:
        checks.append(Check("Dolibarr", False, exc.message, exc.remedy))
    checks.append(sender_check(settings))
    checks.extend(await mail_checks(settings))
    not_yet = _sqlite_ledger_file(settings)
    if not_yet is not None and not not_yet.exists():  # checked without creating it
        checks.append(Check("ledger", True, f"{not_yet}: not created yet (the first follow-up creates it)"))
        return checks
    try:
        ledger = open_ledger(settings)
        counts = ledger.counts()
        uncertain = len(ledger.uncertain())
        ledger.close()
        where = ledger_location(settings)
        checks.append(
            Check(
                "ledger",
                uncertain == 0,
                f"{where.split('@')[-1]}: {sum(counts.values())} entries, {uncertain} uncertain",
                "see `dolirelance status`" if uncertain else None,
            )
        )
    except DolirelanceError as exc:
        checks.append(Check("ledger", False, exc.message, exc.remedy))
    return checks


async def mail_checks(settings: Settings, *, tokens: TokenSource | None = None) -> list[Check]:
    """Sign in to the SMTP server and to the replies mailbox as the commands will (password or OAuth2),
    and say whether customers' replies can reach that mailbox."""
    if tokens is None and settings.oauth2 is not None:
        tokens = shared_token_source(settings.oauth2, settings.base_dir)
    smtp = settings.smtp
    checks: list[Check] = []
    how = " (OAuth2)" if smtp.auth == "oauth2" else ""
    try:
        greeting = await asyncio.to_thread(check_connection, smtp, tokens=tokens)
        signed_in = f", signed in as {smtp.username}{how}" if smtp.username else ""
        checks.append(Check("SMTP", True, f"{smtp.host}:{smtp.port} answers: {greeting}{signed_in}"))
    except DolirelanceError as exc:
        checks.append(Check("SMTP", False, exc.message, exc.remedy))
    imap = settings.imap
    if imap is None:
        return checks
    try:
        state = await asyncio.to_thread(_read_mailbox_state, imap, tokens)
        how = " (OAuth2)" if imap.auth == "oauth2" else ""
        checks.append(Check("replies mailbox", True, f"{imap.host}:{imap.effective_port}, signed in as "
                            f"{imap.username}{how}; {imap.folder}: {len(state.uids)} message(s) to read"))  # fmt: skip
    except DolirelanceError as exc:
        checks.append(Check("replies mailbox", False, exc.message, exc.remedy))
    for problem in settings.reply_problems():
        checks.append(Check("replies reach the mailbox", False, problem, REPLY_TO_REMEDY, warning=True))
    if not settings.reply_problems():
        checks.append(Check("replies reach the mailbox", True,
                            f"Reply-To: {_reply_to_shown(settings)}"))  # fmt: skip
    return checks


def _reply_to_shown(settings: Settings) -> str:
    mode = settings.reply_to_mode
    mailbox = settings.replies_address or ""
    if mode == "mailbox":
        return mailbox
    return f"the sales person, {mailbox}"


def _read_mailbox_state(imap: ImapSettings, tokens: TokenSource | None) -> FolderState:
    with RepliesMailbox(imap, tokens=tokens) as mailbox:
        return mailbox.new_messages()


def _sqlite_ledger_file(settings: Settings) -> Path | None:
    """The SQLite ledger's file (the default one when none is configured); None for another database."""
    from dolirelance.ledger import default_ledger_path

    url = settings.ledger.url
    if url is None:
        return default_ledger_path()
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def sender_check(settings: Settings) -> Check:
    """The From address is the company's own, not the starter file's made-up one."""
    from dolirelance.starter import is_example_domain, sender_domain

    sender = settings.smtp.sender
    domain = sender_domain(sender)
    if is_example_domain(domain):
        return Check(
            "sender",
            False,
            f"{sender}: {domain} is an example domain, the customers' replies would go nowhere",
            "set [smtp] sender to your company's address",
        )
    return Check("sender", True, sender)


async def ensure_opt_out_field(settings: Settings) -> str:
    """Create the opt-out extrafield on proposals when missing; explain the manual way otherwise."""
    field = settings.followup.opt_out_field
    async with open_runtime(settings) as rt:
        me = await rt.me()
        exists = await _opt_out_field_exists(settings, rt.dolibarr)
        if exists:
            return f"the extrafield '{field}' already exists on proposals: nothing to do"
        if not me.admin:
            raise DolibarrAuthError(
                f"{me.login} is not an admin: only an admin may create extrafields through the API",
                remedy=(
                    "run `dolirelance setup` once with an admin API key (DOLIRELANCE_API_KEY=... dolirelance setup), "
                    "or in Dolibarr: Setup > Modules > Commercial proposals > Complementary attributes > New: "
                    f"code '{field}', label '{OPT_OUT_LABEL}', type Boolean (checkbox)"
                ),
            )
        await rt.dolibarr.create_extrafield(field, OPT_OUT_LABEL, field_type="boolean", element_type="propal")
        return f"created the extrafield '{field}' ({OPT_OUT_LABEL}) on proposals"


async def check_access_groups(settings: Settings) -> list[str]:
    """``setup``: the ``[access]`` groups exist. Dolibarr's REST API (20 to 23) has no route that creates a
    group, so a missing one stops setup with the way to create it in Dolibarr's menus."""
    lines: list[str] = []
    missing: list[str] = []
    async with open_runtime(settings) as rt:
        for key, name in _configured_groups(settings):
            try:
                group = await rt.dolibarr.find_group(name)
            except DolibarrAuthError as exc:
                raise DolibarrAuthError(
                    f"cannot check the [access] group '{name}': {exc.message}",
                    remedy="run `dolirelance setup` with an admin API key, or one with user.user.lire",
                    status_code=exc.status_code,
                ) from None
            if group is None:
                missing.append(name)
            else:
                lines.append(f"the [access] {key} '{name}' exists ({len(group.members)} member(s))")
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        raise SetupIncomplete(
            f"the [access] group(s) {names} do not exist in Dolibarr",
            remedy="; ".join(_create_group_remedy(name) for name in missing),
        )
    return lines
