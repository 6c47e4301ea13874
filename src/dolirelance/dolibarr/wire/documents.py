"""Documents (``/documents``) as Dolibarr lists and sends them, and the file names it accepts."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from dolirelance.dolibarr.wire.casts import (
    Epoch,
    OptInt,
    OptText,
    Text,
    WireInt,
    WireModel,
    epoch_to_datetime,
)
from dolirelance.domain import Document
from dolirelance.errors import DolibarrResponseError

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str, *, fallback: str = "document") -> str:
    """A file name Dolibarr stores as given and any file system accepts: letters, digits, ``._-``;
    no path, no leading dot, a stem of at most 100 characters (the extension kept)."""
    stem, dot, extension = name.rpartition(".")  # slashes become "_" below: no path survives
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", extension):
        stem, extension = name, ""
    clean_stem = _UNSAFE_IN_FILE_NAME.sub("_", stem).strip("._-")[:100] or fallback
    return f"{clean_stem}.{extension}" if extension else clean_stem


def proposal_relative_path(last_main_doc: str | None) -> str | None:
    """``propale/PR1/PR1.pdf`` (or ``2/propale/...`` for entity 2) → ``PR1/PR1.pdf``."""
    if not last_main_doc:
        return None
    marker = "propale/"
    index = last_main_doc.find(marker)
    return last_main_doc[index + len(marker) :] if index >= 0 else last_main_doc


class WireDocument(WireModel):
    # `name` is null on 23 (the file index's object dump overwrites it): `filename`/`relativename` first
    name: Text = ""
    filename: Text = ""
    relativename: Text = ""
    level1name: Text = ""
    filepath: Text = ""
    size: WireInt = 0
    date: Epoch = None
    gen_or_uploaded: Text = ""
    label: OptText = None  # the file index's md5 of the content (files.lib.php: "hash of file content")

    def file_name(self) -> str:
        return self.filename or self.relativename.rsplit("/", 1)[-1] or self.name

    def to_domain(self, tz: ZoneInfo) -> Document:
        name = self.file_name()
        if not name:
            raise DolibarrResponseError(
                "unexpected answer from Dolibarr on GET /documents: an entry has no file name "
                "(name, filename and relativename are all empty)",
                remedy="report it with your Dolibarr version (dolirelance doctor shows it)",
            )
        if self.level1name:
            relative = f"{self.level1name}/{self.relativename or name}"
        else:  # fall back on the file index: filepath "propale/REF"
            directory = proposal_relative_path(self.filepath + "/") or ""
            relative = f"{directory}{name}"
        return Document(
            name=name,
            relative_path=relative,
            size=self.size,
            modified=epoch_to_datetime(self.date, tz),
            origin=self.gen_or_uploaded,
            md5=self.label.lower() if self.label and _MD5.fullmatch(self.label) else None,
        )


class WireFile(WireModel):
    """``/documents/download`` and ``/documents/builddoc`` answers."""

    filename: Text = ""
    content: str
    encoding: Text = "base64"
    filesize: OptInt = None  # PHP's filesize() of the file on the server
