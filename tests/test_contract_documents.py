"""Contract test: what a real Dolibarr 20.0.0 says of a quote's files, and the fake saying the same.

dolirelance attaches the quote's PDF as Dolibarr has it (``[followup] rebuild_pdf = "when_stale"``),
trusting three facts of the real server (``tests/contract/transcript-20.0.0.md``, and Dolibarr's PHP:
``files.lib.php``/``CommonObject::indexFile()`` store ``md5_file()`` of the content as the file
index's ``label``, "hash of file content"; ``dol_dir_list()`` gives ``date`` = the file's mtime):

* ``GET /documents`` gives each file's ``size`` (the same number as ``filesize`` in the answers of
  ``builddoc`` and ``/documents/download``), its ``date`` and, from the file index, a 32-hex ``label``;
* the fake answers the same, with ``label`` = the MD5 of the bytes ``/documents/download`` gives;
* building the PDF records its path on the quote, which stamps the quote's ``date_modification``
  no later than the file's ``date``; a change of the quote afterwards makes it newer;
* ``POST /proposals/{id}/validate`` writes no PDF (``api_proposals.class.php``: ``valid()`` then a
  fetch; the card's validation is what calls ``generateDocument()``): ``last_main_doc`` stays null,
  and a real 20.0.0 gave ``date_validation`` = ``date_modification`` and a 404 for the quote's files
  (measured by the integrator, 7 Dec 2026). The first build then stamps the quote (``last_main_doc``
  written); a rebuild to the same path does not (MariaDB's ``ON UPDATE`` only when a value changes),
  though the file's ``date`` moves. So a quote naming a ``last_main_doc`` whose ``date_modification``
  is its ``date_validation`` (within 2 s) was not changed after its PDF: dolirelance downloads it
  without listing the files (``service/prepare.py``, ``unchanged_since_validation``), unless the PDF
  states (TCPDF's ``/CreationDate``, the moment it drew it) that it was drawn before that validation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import httpx

from dolirelance.testing import FakeDolibarr, create_app
from test_contract_transcript import TRANSCRIPT, parse_transcript

RECORDED_AT = datetime(2026, 11, 28, 1, 20, 19, tzinfo=UTC)


def recorded(method: str, title_part: str) -> tuple[str, str]:
    """(request params or body as JSON text, response text) of the first recorded exchange so titled."""
    for exchange in parse_transcript(TRANSCRIPT.read_text(encoding="utf-8")):
        if exchange.method == method and title_part in exchange.title:
            return json.dumps(exchange.params or exchange.body), exchange.response_text
    raise AssertionError(f"no recorded exchange {method} ... {title_part}")


def visible_number(text: str, key: str) -> int:
    match = re.search(rf'"{key}": (\d+)', text)
    assert match, f"{key} not in the recorded answer"
    return int(match.group(1))


def test_the_real_file_list_gives_size_date_and_md5_of_each_file() -> None:
    """Recorded: the listed size is the builddoc's and the download's filesize; label is an MD5."""
    _, built = recorded("PUT", "build PDF PR2611-0001")
    _, listed_text = recorded("GET", "list documents of p1")
    _, downloaded = recorded("GET", "download (base64)")
    [listed] = json.loads(listed_text)
    assert listed["relativename"] == "PR2611-0001.pdf" and listed["level1name"] == "PR2611-0001"
    assert listed["size"] == visible_number(built, "filesize") == visible_number(downloaded, "filesize") == 8900
    assert re.fullmatch(r"[0-9a-f]{32}", listed["label"])
    assert isinstance(listed["date"], int) and listed["date"] == listed["date_m"]


async def test_the_fake_lists_the_md5_and_size_of_the_bytes_it_downloads() -> None:
    """The fake's list describes exactly the bytes its download gives; dates tell a stale PDF apart."""
    now = RECORDED_AT

    def clock() -> datetime:
        return now

    fake = FakeDolibarr(now=clock)
    customer = fake.add_thirdparty(name="Boulangerie Martin", client=1)
    proposal = fake.add_proposal(customer.id, date=RECORDED_AT - timedelta(days=40), duree_validite=30)
    fake.add_proposal_line(proposal.id, description="Audit", qty=1, subprice="850")
    fake.validate_proposal(proposal.id)
    ref = proposal.ref
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(fake)),
        base_url="http://dolibarr.test/api/index.php",
        headers={"DOLAPIKEY": "admin-key"},
    ) as client:
        built = await client.put(
            "/documents/builddoc", json={"modulepart": "propal", "original_file": f"{ref}/{ref}.pdf"}
        )
        [listed] = (await client.get("/documents", params={"modulepart": "propal", "id": proposal.id})).json()
        download = await client.get(
            "/documents/download", params={"modulepart": "propal", "original_file": f"{ref}/{ref}.pdf"}
        )
        after_build = (await client.get(f"/proposals/{proposal.id}")).json()
        now += timedelta(hours=1)
        await client.put(f"/proposals/{proposal.id}", json={"note_public": "Prix revus", "duree_validite": 0})
        after_change = (await client.get(f"/proposals/{proposal.id}")).json()

    content = base64.b64decode(download.json()["content"])
    assert listed["size"] == built.json()["filesize"] == download.json()["filesize"] == len(content)
    assert listed["label"] == hashlib.md5(content).hexdigest()
    assert after_build["date_modification"] <= listed["date"]  # the build stamped the quote, not later
    assert after_change["date_modification"] > listed["date"]  # a change afterwards: the PDF is older


def test_the_real_api_validation_writes_no_pdf() -> None:
    """Recorded: the answer of POST /proposals/1/validate and the read back name no main document."""
    _, validated = recorded("POST", "validate")
    _, read_back = recorded("GET", "read back")
    assert '"status": 1' in validated and '"status": 1' in read_back
    assert '"last_main_doc": null' in validated and '"last_main_doc": null' in read_back


async def test_the_fake_validates_and_builds_as_the_real_server_stamps_the_quote() -> None:
    """API validation: no PDF, tms = validation; first build stamps the quote, a rebuild does not."""
    now = RECORDED_AT

    def clock() -> datetime:
        return now

    fake = FakeDolibarr(now=clock)
    customer = fake.add_thirdparty(name="Boulangerie Martin", client=1)
    proposal = fake.add_proposal(customer.id, date=RECORDED_AT - timedelta(days=40), duree_validite=30)
    fake.add_proposal_line(proposal.id, description="Audit", qty=1, subprice="850")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(fake)),
        base_url="http://dolibarr.test/api/index.php",
        headers={"DOLAPIKEY": "admin-key"},
    ) as client:
        validated = await client.post(f"/proposals/{proposal.id}/validate", json={"notrigger": 0})
        after_validation = (await client.get(f"/proposals/{proposal.id}")).json()
        files_after_validation = await client.get("/documents", params={"modulepart": "propal", "id": proposal.id})
        ref = after_validation["ref"]
        build = {"modulepart": "propal", "original_file": f"{ref}/{ref}.pdf"}
        now += timedelta(seconds=1)
        await client.put("/documents/builddoc", json=build)
        after_build = (await client.get(f"/proposals/{proposal.id}")).json()
        now += timedelta(hours=2)
        await client.put("/documents/builddoc", json=build)
        after_rebuild = (await client.get(f"/proposals/{proposal.id}")).json()
        [listed] = (await client.get("/documents", params={"modulepart": "propal", "id": proposal.id})).json()

    assert validated.status_code == 200 and validated.json()["last_main_doc"] is None
    assert after_validation["last_main_doc"] is None
    assert after_validation["date_validation"] == after_validation["date_modification"]
    assert files_after_validation.status_code == 404
    assert after_build["last_main_doc"] == f"propale/{ref}/{ref}.pdf"
    assert after_build["date_modification"] == after_validation["date_validation"] + 1  # stamped by the build
    assert after_rebuild["date_modification"] == after_build["date_modification"]  # same path: not stamped
    assert listed["date"] == after_build["date_modification"] + 7200  # the file itself is new
