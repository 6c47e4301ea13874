"""Contract test: replay the recorded exchanges of a real Dolibarr 20.0.0 against the fake.

``tests/contract/transcript-20.0.0.md`` is a verbatim copy of ``shared/dolibarr/transcript-20.0.0.md``.
Every ``### METHOD /path -- title`` section is replayed in order against a fresh fake (Part 1 seeds the
data through the API, exactly like the recording), with the clock at the recording's instant. For each
exchange we compare:

* the status code;
* complete JSON bodies: same shape (same keys, same value types: str / int / float / bool / null / list /
  dict, recursively, same list lengths), and the exact ``error.message`` of error bodies;
* truncated bodies (``... (N bytes total)``): only the visible part: the keys shown, in the order shown,
  and the type of every scalar value shown on one line.

Values are not compared (sizes, md5 labels, share tokens, timestamps differ), except error messages.

Adjustments (why):
* ``<api-key>`` in parameters is replaced by the fake admin's key (the recording hid the real one).
* agenda event ids: the recorded instance had logged 15 other automatic events (third party, contact
  and product creation) that the fake does not reproduce, so the event id returned by ``POST
  /agendaevents`` is mapped onto the recorded one in later paths.
* ``POST /proposals/12/line`` without ``product_type``: the recorded message is the full MariaDB INSERT
  statement; only its beginning is compared.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from dolirelance.testing import FakeDolibarr, create_app

TRANSCRIPT = Path(__file__).parent / "contract" / "transcript-20.0.0.md"
RECORDED_AT = datetime(2026, 11, 28, 1, 20, 18, tzinfo=UTC)
ADMIN_KEY = "contract-admin-key"
TRUNCATION = re.compile(r"^\.\.\. \((\d+) bytes total\)$")
# Messages compared on their beginning only (see the module docstring).
MESSAGE_PREFIX_ONLY = {"POST /proposals/12/line -- free line WITHOUT product_type -> SQL error"}


@dataclass
class Exchange:
    title: str
    method: str
    path: str
    params: dict[str, Any]
    body: Any
    raw_body: str | None
    status: int
    response_text: str
    truncated: bool


def parse_transcript(text: str) -> list[Exchange]:
    exchanges: list[Exchange] = []
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        lines = section.splitlines()
        head = lines[0]
        method, rest = head.split(" ", 1)
        path = rest.split(" -- ", 1)[0].strip()
        params: dict[str, Any] = {}
        body: Any = None
        raw_body: str | None = None
        status = 0
        response: list[str] = []
        index = 1
        while index < len(lines):
            line = lines[index]
            if line.startswith("params: `"):
                params = json.loads(line[len("params: `") : -1])
            elif line.startswith("raw body: `"):
                raw_body = line[len("raw body: `") : -1]
            elif line.startswith("body: `"):
                body = json.loads(line[len("body: `") : -1])
            elif line == "body:":
                end = lines.index("```", index + 2)
                body = json.loads("\n".join(lines[index + 2 : end]))
                index = end
            elif line.startswith("-> HTTP "):
                status = int(line.split()[2])
                end = lines.index("```", index + 2)
                response = lines[index + 2 : end]
                break
            index += 1
        truncated = bool(response) and bool(TRUNCATION.match(response[-1]))
        exchanges.append(
            Exchange(head, method, path, params, body, raw_body, status, "\n".join(response), truncated)
        )
    return exchanges


def value_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "dict"


def shape_differences(expected: Any, actual: Any, where: str = "$") -> list[str]:
    if value_type(expected) != value_type(actual):
        return [f"{where}: {value_type(expected)} expected, got {value_type(actual)} ({actual!r:.60})"]
    problems: list[str] = []
    if isinstance(expected, dict):
        if list(expected) != list(actual):
            missing = [key for key in expected if key not in actual]
            extra = [key for key in actual if key not in expected]
            problems.append(f"{where}: keys differ, missing {missing}, unexpected {extra}")
        for key in expected:
            if key in actual:
                problems += shape_differences(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            problems.append(f"{where}: {len(expected)} items expected, got {len(actual)}")
        for position, (want, got) in enumerate(zip(expected, actual, strict=False)):
            problems += shape_differences(want, got, f"{where}[{position}]")
    return problems


_VISIBLE_LINE = re.compile(r'^( +)"([^"]+)": (.*?),?$')


def visible_differences(recorded: str, actual: Any) -> list[str]:
    """Check the keys and one-line scalar types visible in a truncated pretty-printed body."""
    lines = recorded.splitlines()[:-1]
    lines = lines[:-1] if lines else lines  # the last visible line is usually cut in the middle
    target = actual
    indent = 4
    if recorded.startswith("["):
        if not isinstance(actual, list) or not actual:
            return [f"a non-empty list expected, got {actual!r:.80}"]
        target, indent = actual[0], 8
        ends = [position for position, line in enumerate(lines) if line in ("    }", "    },")]
        lines = lines[: ends[0]] if ends else lines  # only the first item
    if not isinstance(target, dict):
        return [f"an object expected, got {target!r:.80}"]
    problems: list[str] = []
    seen: list[str] = []
    for line in lines:
        match = _VISIBLE_LINE.match(line)
        if not match or len(match.group(1)) != indent:
            continue
        key, raw = match.group(2), match.group(3)
        seen.append(key)
        if key not in target:
            problems.append(f"key {key!r} missing")
            continue
        if raw in ("[", "{"):
            continue
        try:
            expected_value = json.loads(raw)
        except ValueError:
            continue  # a value cut by the truncation
        if value_type(expected_value) != value_type(target[key]) and not (
            raw in ("[]", "{}") and value_type(target[key]) in ("list", "dict")
        ):
            problems.append(f"{key}: {value_type(expected_value)} expected, got {target[key]!r:.60}")
    order = [key for key in target if key in seen]
    if order != [key for key in seen if key in target]:
        problems.append(f"key order differs: {order} vs {seen}")
    return problems


async def test_fake_matches_the_recorded_dolibarr() -> None:
    exchanges = parse_transcript(TRANSCRIPT.read_text(encoding="utf-8"))
    assert len(exchanges) > 100
    fake = FakeDolibarr(timezone="UTC", now=lambda: RECORDED_AT)
    fake.admin_user.api_key = ADMIN_KEY
    event_ids: dict[str, str] = {}
    failures: list[str] = []
    transport = httpx.ASGITransport(app=create_app(fake))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://dolibarr.test/api/index.php", headers={"DOLAPIKEY": ADMIN_KEY}
    ) as client:
        for exchange in exchanges:
            path = exchange.path
            match = re.fullmatch(r"/agendaevents/(\d+)", path)
            if match and match.group(1) in event_ids:
                path = f"/agendaevents/{event_ids[match.group(1)]}"
            params = {
                key: (ADMIN_KEY if value == "<api-key>" else value) for key, value in exchange.params.items()
            }
            content: bytes | None = None
            if exchange.raw_body is not None:
                content = exchange.raw_body.encode()
            elif exchange.body is not None:
                content = json.dumps(exchange.body).encode()
            response = await client.request(
                exchange.method,
                path,
                params=params,
                content=content,
                headers={"Content-Type": "application/json"},
            )
            label = exchange.title
            if response.status_code != exchange.status:
                failures.append(
                    f"{label}: status {response.status_code} != {exchange.status}: {response.text:.200}"
                )
                continue
            if exchange.status == 304:
                if response.content:
                    failures.append(f"{label}: 304 with a body")
                continue
            actual = response.json()
            if exchange.method == "POST" and path == "/agendaevents" and exchange.status == 200:
                event_ids[exchange.response_text.strip()] = str(actual)
            if exchange.truncated:
                problems = visible_differences(exchange.response_text, actual)
                if label in MESSAGE_PREFIX_ONLY:
                    recorded_start = exchange.response_text.split('"message": "', 1)[1][:60]
                    if not actual["error"]["message"].startswith(recorded_start):
                        problems.append(f"message {actual['error']['message']!r:.80}")
            else:
                expected = json.loads(exchange.response_text)
                problems = shape_differences(expected, actual)
                recorded_error = expected.get("error") if isinstance(expected, dict) else None
                if recorded_error and recorded_error.get("message") != actual["error"].get("message"):
                    problems.append(f"message {actual['error'].get('message')!r}")
            failures += [f"{label}: {problem}" for problem in problems]
    assert not failures, "\n".join(failures)


def test_transcript_parser_reads_truncation_and_bodies() -> None:
    exchanges = parse_transcript(TRANSCRIPT.read_text(encoding="utf-8"))
    first = exchanges[0]
    assert (first.method, first.path, first.status, first.truncated) == ("GET", "/thirdparties", 404, False)
    lines = next(e for e in exchanges if e.path == "/proposals/1/lines" and e.method == "POST")
    assert isinstance(lines.body, list) and len(lines.body) == 2
    invalid = next(e for e in exchanges if e.raw_body is not None)
    assert invalid.raw_body == "{bad json"
    assert any(e.truncated for e in exchanges)
