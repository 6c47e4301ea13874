"""A quote's files: listed, downloaded, (re)generated and attached."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from dolirelance.dolibarr import wire
from dolirelance.dolibarr.http import Call
from dolirelance.dolibarr.setup import ServerSetup
from dolirelance.domain import Document, Quote
from dolirelance.errors import DolibarrResponseError

__all__ = ["DocumentRoutes"]


class DocumentRoutes(ServerSetup):
    """The routes of ``/documents`` for proposals."""

    async def list_documents(self, quote: Quote) -> list[Document]:
        tz = await self.server_timezone()
        route = "GET /documents"
        body = await self._call(
            Call("GET", "documents", route, {"modulepart": "propal", "id": quote.id}, empty_on_404=True)
        )
        return [w.to_domain(tz) for w in wire.parse_list(wire.WireDocument, body, route)]

    async def download_document(self, relative_path: str) -> bytes:
        """A file of a proposal; ``relative_path`` is relative to the proposal directory ("REF/REF.pdf")."""
        route = "GET /documents/download"
        params: dict[str, str | int] = {"modulepart": "propal", "original_file": relative_path.lstrip("/")}
        body = await self._call(
            Call("GET", "documents/download", route, params, what=f"document {relative_path}")
        )
        return _file_content(body, route)

    async def build_document(self, quote: Quote, *, template: str = "", lang: str = "fr_FR") -> bytes:
        """(Re)generate the quote's PDF; ``template`` "" = the quote's or the default model."""
        route = "PUT /documents/builddoc"
        body = {
            "modulepart": "propal",
            "original_file": f"{quote.ref}/{quote.ref}.pdf",
            "doctemplate": template,
            "langcode": lang,
        }
        answer = await self._call(
            Call("PUT", "documents/builddoc", route, body=body, what=f"quote {quote.ref}")
        )
        return _file_content(answer, route)

    async def upload_document(
        self, quote: Quote, filename: str, content: bytes, *, overwrite: bool = False
    ) -> str:
        """Attach a file to the quote; returns the name Dolibarr stored it under (sanitized)."""
        route = "POST /documents/upload"  # POST: PUT answers 405
        body = {
            "filename": wire.safe_file_name(filename),
            "modulepart": "propal",
            "ref": quote.ref,
            "subdir": "",
            "filecontent": base64.b64encode(content).decode("ascii"),
            "fileencoding": "base64",
            # Dolibarr's default is 0 whatever its docblock says; an existing file is then a 400
            "overwriteifexists": 1 if overwrite else 0,
        }
        answer = await self._call(
            Call("POST", "documents/upload", route, body=body, what=f"quote {quote.ref}")
        )
        if not isinstance(answer, str) or not answer:
            raise DolibarrResponseError(
                f"unexpected answer from Dolibarr on {route}: expected the stored file name"
            )
        return answer


def _file_content(answer: Any, route: str) -> bytes:
    payload = wire.parse(wire.WireFile, answer, route)
    try:
        content = base64.b64decode(payload.content, validate=False)
    except (binascii.Error, ValueError):
        raise DolibarrResponseError(
            f"unexpected answer from Dolibarr on {route}: content is not base64"
        ) from None
    if payload.filesize is not None and payload.filesize != len(content):
        raise DolibarrResponseError(
            f"unexpected answer from Dolibarr on {route}: {payload.filename or 'the file'} came with "
            f"{len(content)} bytes where Dolibarr says it has {payload.filesize}",
            remedy="try again; if it persists, check the web server's limits (memory, output size)",
        )
    return content
