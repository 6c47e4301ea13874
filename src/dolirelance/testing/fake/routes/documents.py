"""Routes of ``/documents``: list, download, delete, builddoc, upload."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from dolirelance.testing import fake_versions
from dolirelance.testing.fake.records import (
    ApiError,
    ProposalRecord,
    StoredFile,
    php_int,
    sanitize_filename,
)
from dolirelance.testing.fake.render import (
    content_type,
    render_file,
)
from dolirelance.testing.fake.routes.call import (
    Call,
    body_dict,
)

_PROPOSAL_MODULEPARTS = ("propal", "proposal", "propale")


def _check_modulepart(modulepart: str | None, allowed: Sequence[str] = _PROPOSAL_MODULEPARTS) -> None:
    if modulepart not in allowed:
        raise ApiError(
            400, f"Modulepart {modulepart} not implemented yet.", source="api_documents.class.php:500"
        )


def list_documents(call: Call) -> Any:
    _check_modulepart(call.param("modulepart"))
    call.require("propal.lire")
    fake = call.fake
    proposal: ProposalRecord | None = None
    if call.param("id"):
        proposal = fake.proposals.get(php_int(call.param("id")))
    elif call.param("ref"):
        proposal = fake.proposal_by_ref(str(call.param("ref")))
    else:
        raise ApiError(400, "bad value for parameter id or ref", source="api_documents.class.php:330")
    if proposal is None:
        raise ApiError(404, "Proposal not found", source="api_documents.class.php:384")
    files = fake.proposal_files(proposal)
    if not files:
        raise ApiError(
            404,
            f"Search for modulepart {call.param('modulepart')} with Id {proposal.id} or Ref {proposal.ref} "
            "does not return any document.",
            source="api_documents.class.php:660",
        )
    if call.param("sortfield"):
        # The API passes sortorder as a string where dol_dir_list expects SORT_ASC: it always sorts DESC.
        key = call.param("sortfield")
        files.sort(
            key=lambda f: f.date if key == "date" else len(f.content) if key == "size" else f.name.lower(),
            reverse=True,
        )
    else:
        files.sort(key=lambda f: f.name.lower())
    directory = sanitize_filename(proposal.ref)
    entries = [
        fake_versions.reshape_document(fake.version, render_file(fake, directory, stored), content_type(stored.name))
        for stored in files
    ]
    return fake_versions.paginated(fake.version, call.params, entries, len(entries))


def _find_file(call: Call, original_file: str | None) -> tuple[ProposalRecord, str, StoredFile]:
    if not original_file or "/" not in original_file:
        raise ApiError(400, "bad value for parameter original_file", source="api_documents.class.php:120")
    directory, name = original_file.rsplit("/", 1)
    proposal = call.fake.proposal_by_ref(directory)
    stored = call.fake.files.get(directory, {}).get(name)
    if proposal is None or stored is None:
        raise ApiError(
            404,
            f"File not found (file {call.fake.data_root}/propale/{original_file})",
            source="api_documents.class.php:140",
        )
    return proposal, directory, stored


def download_document(call: Call) -> Any:
    _check_modulepart(call.param("modulepart"), ("propal", "propale"))
    call.require("propal.lire")
    _proposal, _directory, stored = _find_file(call, call.param("original_file"))
    return {
        "filename": stored.name,
        "content-type": content_type(stored.name),
        "filesize": len(stored.content),
        "content": base64.b64encode(stored.content).decode("ascii"),
        "encoding": "base64",
    }


def delete_document(call: Call) -> Any:
    _check_modulepart(call.param("modulepart"), ("propal", "propale"))
    call.require("propal.creer")
    proposal, directory, stored = _find_file(call, call.param("original_file"))
    del call.fake.files[directory][stored.name]
    if proposal.last_main_doc and proposal.last_main_doc.endswith(f"{directory}/{stored.name}"):
        proposal.last_main_doc = None
        proposal.row_cache = None
    return {"success": {"code": 200, "message": "Document deleted"}}


def builddoc(call: Call) -> Any:
    body = body_dict(call)
    _check_modulepart(body.get("modulepart"), ("propal", "propale"))
    call.require("propal.creer")
    original_file = str(body.get("original_file") or "")
    ref = original_file.rsplit("/", 1)[-1].removesuffix(".pdf")
    proposal = call.fake.proposal_by_ref(ref)
    if proposal is None:
        raise ApiError(404, "Proposal not found", source="api_documents.class.php:225")
    stored = call.fake.build_proposal_pdf(proposal.id, user_id=call.user.id)
    return {
        "filename": stored.name,
        "content-type": "application/pdf",
        "filesize": len(stored.content),
        "content": base64.b64encode(stored.content).decode("ascii"),
        "langcode": body.get("langcode") or "fr_FR",
        "template": body.get("doctemplate") or "azur",
        "encoding": "base64",
    }


def upload_document(call: Call) -> Any:
    body = body_dict(call)
    _check_modulepart(body.get("modulepart"))
    call.require("propal.creer")
    proposal = call.fake.proposal_by_ref(str(body.get("ref") or ""))
    if proposal is None:
        raise ApiError(404, "Proposal not found", source="api_documents.class.php:900")
    if not body.get("filename"):
        raise ApiError(400, "Bad value for parameter filename", source="api_documents.class.php:850")
    raw = str(body.get("filecontent") or "")
    try:
        content = (
            base64.b64decode(raw, validate=True) if body.get("fileencoding") == "base64" else raw.encode()
        )
    except ValueError as exc:
        raise ApiError(500, "Failed to decode file content", source="api_documents.class.php:980") from exc
    stored = call.fake.upload_file(
        proposal.id,
        str(body["filename"]),
        content,
        overwrite=bool(php_int(body.get("overwriteifexists", 0))),
        user_id=call.user.id,
    )
    return stored.name
