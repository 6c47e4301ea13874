"""Users and their groups, third parties and their contacts: seeding them, finding them, who sees whom."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dolirelance.testing.fake.records import (
    ALL_RIGHTS,
    ContactRecord,
    GroupRecord,
    ThirdPartyRecord,
    UserRecord,
    known_fields,
)
from dolirelance.testing.fake.store.tables import Tables


class PeopleStore(Tables):
    """Users, user groups, third parties (their sales representatives) and contacts."""

    # ---- users ----------------------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        api_key: str,
        password: str = "",
        admin: bool = False,
        rights: Iterable[str] = (),
        firstname: str = "",
        lastname: str = "",
        email: str = "",
        office_phone: str = "",
        user_mobile: str = "",
        job: str = "",
        signature: str = "",
        socid: int | None = None,
    ) -> UserRecord:
        user = UserRecord(
            id=self.numbers.next_id("user"),
            login=login,
            api_key=api_key,
            password=password,
            firstname=firstname,
            lastname=lastname,
            email=email,
            office_phone=office_phone,
            user_mobile=user_mobile,
            job=job,
            signature=signature,
            admin=admin,
            rights=set(ALL_RIGHTS if admin else rights),
            socid=socid,
        )
        self.users[user.id] = user
        return user

    def user_by_key(self, key: str) -> UserRecord | None:
        for user in self.users.values():
            if user.api_key == key and user.status == 1:
                return user
        return None

    def user_by_login(self, login: str) -> UserRecord | None:
        return next((user for user in self.users.values() if user.login == login), None)

    # ---- user groups (Users & Groups > Groups; the REST API cannot create them) -----------------------

    def add_group(self, name: str, *, note: str = "", members: Iterable[int] = ()) -> GroupRecord:
        group = GroupRecord(
            id=self.numbers.next_id("usergroup"), name=name, note=note, member_ids=set(members), datec=self.now_epoch()
        )
        self.groups[group.id] = group
        return group

    def group_by_name(self, name: str) -> GroupRecord | None:
        return next((group for group in self.groups.values() if group.name == name), None)

    def add_to_group(self, user_id: int, group_id: int) -> None:
        self.groups[group_id].member_ids.add(user_id)

    def remove_from_group(self, user_id: int, group_id: int) -> None:
        self.groups[group_id].member_ids.discard(user_id)

    def groups_of(self, user_id: int) -> list[GroupRecord]:
        """Dolibarr's UserGroup::listGroupsForUser: ordered by name."""
        return sorted((g for g in self.groups.values() if user_id in g.member_ids), key=lambda g: g.name)

    # ---- third parties and contacts -------------------------------------------------------------------

    def add_thirdparty(
        self,
        name: str,
        *,
        client: int = 1,
        code_client: str = "auto",
        email: str | None = None,
        sales_rep_ids: Iterable[int] = (),
        **fields: Any,
    ) -> ThirdPartyRecord:
        record_id = self.numbers.next_id("thirdparty")
        if code_client == "auto" and client in (1, 3):
            code_client = self.numbers.customer_code(
                self.local_now(), (tp.code_client for tp in self.thirdparties.values())
            )
        elif code_client == "auto":
            code_client = ""
        record = ThirdPartyRecord(
            id=record_id,
            name=name,
            client=client,
            code_client=code_client,
            email=email or None,
            datec=self.now_epoch(),
            sales_rep_ids=list(sales_rep_ids),
            **known_fields(ThirdPartyRecord, fields),
        )
        self.thirdparties[record.id] = record
        return record

    def add_sales_rep(self, socid: int, user_id: int) -> None:
        reps = self.thirdparties[socid].sales_rep_ids
        if user_id not in reps:
            reps.append(user_id)

    def add_contact(self, socid: int | None, lastname: str, **fields: Any) -> ContactRecord:
        known: dict[str, Any] = {
            key: ("" if key == "email" and value is None else value)  # a contact's missing email reads ""
            for key, value in known_fields(ContactRecord, fields).items()
        }
        record = ContactRecord(
            id=self.numbers.next_id("contact"), socid=socid, lastname=lastname, datec=self.now_epoch(), **known
        )
        self.contacts[record.id] = record
        return record

    # ---- visibility -----------------------------------------------------------------------------------

    def user_sees_all(self, user: UserRecord) -> bool:
        return user.socid is None and user.has_right("societe.client.voir")

    def sees_thirdparty(self, user: UserRecord, socid: int | None) -> bool:
        """Without societe.client.voir a user only sees third parties where they are sales rep."""
        if user.socid is not None:
            return socid == user.socid
        if user.has_right("societe.client.voir"):
            return True
        if socid is None:
            return False
        thirdparty = self.thirdparties.get(socid)
        return thirdparty is not None and user.id in thirdparty.sales_rep_ids
