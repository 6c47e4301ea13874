"""A proposal's documents: the PDF ``builddoc`` generates, the files uploaded beside it."""

from __future__ import annotations

import secrets

from dolirelance.testing.fake.proposal_pdf import proposal_pdf
from dolirelance.testing.fake.records import ApiError, ProposalRecord, StoredFile, sanitize_filename
from dolirelance.testing.fake.store.tables import Tables


class DocumentStore(Tables):
    """Files stored in each proposal's directory, by name."""

    def _store_file(
        self, proposal: ProposalRecord, name: str, content: bytes, origin: str, user_id: int
    ) -> StoredFile:
        directory = self.files.setdefault(sanitize_filename(proposal.ref), {})
        existing = directory.get(name)
        now = self.now_epoch()
        stored = StoredFile(
            name=name,
            content=content,
            origin=origin,
            date=now,
            ecm_id=existing.ecm_id if existing else self.numbers.next_id("ecm"),
            position=existing.position if existing else len(directory) + 1,
            src_object_id=proposal.id,
            share=(existing.share if existing else secrets.token_urlsafe(24)[:32])
            if origin == "generated"
            else None,
            user_id=user_id,
        )
        directory[name] = stored
        return stored

    def build_proposal_pdf(self, proposal_id: int, *, user_id: int | None = None) -> StoredFile:
        proposal = self.proposals[proposal_id]
        content = proposal_pdf(self, proposal)
        directory = sanitize_filename(proposal.ref)
        stored = self._store_file(
            proposal, f"{directory}.pdf", content, "generated", user_id or self.admin_user.id
        )
        main_doc = f"propale/{directory}/{directory}.pdf"
        if proposal.last_main_doc != main_doc:
            # CommonObject::indexFile() records the path with an UPDATE, which stamps the row's tms
            # (MariaDB's ON UPDATE CURRENT_TIMESTAMP: only when a value changes, not on a rebuild)
            proposal.last_main_doc = main_doc
            proposal.touch(self.now_epoch())
        proposal.row_cache = None
        return stored

    def upload_file(
        self, proposal_id: int, name: str, content: bytes, *, overwrite: bool = False, user_id: int | None = None
    ) -> StoredFile:
        proposal = self.proposals[proposal_id]
        name = sanitize_filename(name)
        if not overwrite and name in self.files.get(sanitize_filename(proposal.ref), {}):
            raise ApiError(
                400,
                f"File with name '{name}' already exists, and overwriteifexists is not set",
                source="api_documents.class.php:1009",
            )
        return self._store_file(proposal, name, content, "uploaded", user_id or self.admin_user.id)

    def proposal_files(self, proposal: ProposalRecord) -> list[StoredFile]:
        return list(self.files.get(sanitize_filename(proposal.ref), {}).values())
