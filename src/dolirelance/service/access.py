"""Who may read and who may send, by Dolibarr group (``[access]``): the one check every front end goes through.

- ``[access]`` unset: everyone Dolibarr lets in may read and send (Dolibarr's rights decide, as before).
- ``senders_group``: only its members send (individual, mass, retry, automatic runs); they may read.
- ``readers_group``: its members may read (pages, histories, previews, ``explain``) without sending.
  Unset while ``senders_group`` is set: everyone may read.
- Dolibarr administrators may always do both, as in Dolibarr.
- ``module_rights = true`` (the Dolibarr module installed): its rights decide instead of groups,
  ``dolirelance.write`` (« Créer des relances de devis ») to send, ``dolirelance.read`` (« Lire les
  relances de devis ») to read, as ``GET /users/info?includepermissions=1`` gives them for the acting user.

Membership is what Dolibarr says for the acting user: ``GET /users/info``'s ``user_group_list``, read
with that user's own key (it needs only ``user.self.creer``, on 20 and 23 alike), else
``GET /users/{id}/groups`` (``user.user.lire``). Never anything the browser sends.
"""

from __future__ import annotations

import enum
import logging

from dolirelance.config import AccessSettings
from dolirelance.domain import User
from dolirelance.errors import AccessDenied, DolibarrAuthError
from dolirelance.service.runtime import Runtime, api_user

log = logging.getLogger(__name__)

# The Dolibarr module's rights (modDolirelance: rights_class "dolirelance"), as dotted names.
MODULE_READ_RIGHT = "dolirelance.read"
MODULE_WRITE_RIGHT = "dolirelance.write"
MODULE_RIGHT_LABELS = {
    MODULE_READ_RIGHT: "Lire les relances de devis",
    MODULE_WRITE_RIGHT: "Créer des relances de devis",
}

def groups_menu(fr_tail: str = "", en_tail: str = "") -> str:
    """Where groups are managed, in Dolibarr's French menus then English ones (``tail``: what follows)."""
    return f"Utilisateurs & Groupes > Groupes{fr_tail} (Users & Groups > Groups{en_tail})"


class Access(enum.IntEnum):
    NONE = 0
    READ = 1
    SEND = 2


def access_configured(settings: AccessSettings) -> bool:
    return settings.module_rights or settings.senders_group is not None or settings.readers_group is not None


async def groups_of(rt: Runtime, user: User) -> frozenset[str]:
    if user.groups is not None:
        return user.groups
    try:
        return await rt.dolibarr.user_groups(user.id)
    except DolibarrAuthError as exc:
        raise AccessDenied(
            f"cannot tell whether {user.login} belongs to the Dolibarr groups [access] names: {exc.message}",
            remedy="give the user the permission user.self.creer (Users & Groups > the user > Permissions: "
            "« Créer/modifier ses propres informations utilisateur »)",
        ) from None


async def access_of(rt: Runtime, user: User) -> Access:
    """What ``user`` may do under ``[access]``."""
    settings = rt.settings.access
    if not access_configured(settings) or user.admin:
        return Access.SEND
    if settings.module_rights:
        if MODULE_WRITE_RIGHT in user.rights:
            return Access.SEND
        return Access.READ if MODULE_READ_RIGHT in user.rights else Access.NONE
    groups = await groups_of(rt, user)
    if settings.senders_group is None or settings.senders_group in groups:
        return Access.SEND
    if settings.readers_group is None or settings.readers_group in groups:
        return Access.READ
    return Access.NONE


def refusal(settings: AccessSettings, user: User, needed: Access) -> AccessDenied:
    """The error naming the group (or the module's right) and who can change it."""
    if settings.module_rights:
        right = MODULE_WRITE_RIGHT if needed is Access.SEND else MODULE_READ_RIGHT
        label = MODULE_RIGHT_LABELS[right]
        what = "send follow-ups" if needed is Access.SEND else "use dolirelance"
        return AccessDenied(
            f"{user.login} may not {what}: the Dolibarr right « {label} » ({right}) is needed",
            remedy="ask a Dolibarr administrator to give it to you: Utilisateurs & Groupes > the user > Permissions "
            f"> Relances devis (dolirelance) > « {label} »" + ("; nothing was sent" if needed is Access.SEND else ""),
        )
    if needed is Access.SEND:
        group = settings.senders_group
        return AccessDenied(
            f"{user.login} may not send follow-ups: only members of the Dolibarr group '{group}' "
            "and Dolibarr administrators may",
            remedy=f"ask a Dolibarr administrator to add you to the group '{group}' in Dolibarr: "
            + groups_menu(f" > {group} > Ajouter", f" > {group} > Add")
            + "; nothing was sent",
        )
    names = " or ".join(f"'{g}'" for g in (settings.readers_group, settings.senders_group) if g)
    return AccessDenied(
        f"{user.login} may not use dolirelance: only members of the Dolibarr group {names} "
        "and Dolibarr administrators may",
        remedy=f"ask a Dolibarr administrator to add you to the group '{settings.readers_group}' in Dolibarr: "
        + groups_menu(f" > {settings.readers_group} > Ajouter", f" > {settings.readers_group} > Add"),
    )


async def require_access(rt: Runtime, needed: Access, user: User | None = None) -> User | None:
    """Stop with :class:`AccessDenied` unless the acting user (default: the API key's user) may do ``needed``.

    Costs nothing when ``[access]`` is unset; else the user's membership as Dolibarr says it now.
    """
    if not access_configured(rt.settings.access):
        return user
    acting = user or await api_user(rt)
    if await access_of(rt, acting) < needed:
        log.info("[access] refused %s to %s", "sending" if needed is Access.SEND else "reading", acting.login)
        raise refusal(rt.settings.access, acting, needed)
    return acting
