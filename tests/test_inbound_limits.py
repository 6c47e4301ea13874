"""No e-mail can crash the reader: the pre-scan refuses the shapes that cost the email package gigabytes
or minutes, and the parsing worker is held to its memory and time (issue 24; bench/replies.py has the
full-size figures). Small sizes here: the limits are scaled down with the bombs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolirelance.inbound import (
    MessageReader,
    ReadLimits,
    UnreadableMessage,
    prescan,
    read_message,
    read_message_contained,
)
from dolirelance.testing.mailbox_samples import (
    big_body_bomb,
    encoded_words_bomb,
    mime_parts_bomb,
    references_bomb,
)
from mailbox_samples import SAMPLES, sample_message

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
US = "devis@solaire-rhone-alpes.test"
# The defaults divided by ten or so: the bombs below are as many times smaller than the issue's.
SMALL = ReadLimits(max_header_field_bytes=2048, max_header_bytes=16 * 1024, max_encoded_words=200,
                   max_mime_parts=100, max_multiparts=8, max_header_fields=60)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(words=st.integers(201, 2000))
def test_a_subject_of_many_encoded_words_is_not_parsed(words: int) -> None:
    assert prescan(encoded_words_bomb(to=US, at=AT, words=words), SMALL) is not None


@settings(max_examples=25, deadline=None)
@given(parts=st.integers(101, 3000))
def test_a_message_of_many_mime_parts_is_not_parsed(parts: int) -> None:
    assert "MIME parts" in (prescan(mime_parts_bomb(to=US, at=AT, parts=parts), SMALL) or "")


@settings(max_examples=25, deadline=None)
@given(ids=st.integers(120, 5000))
def test_a_long_references_header_is_not_parsed(ids: int) -> None:
    assert prescan(references_bomb(to=US, at=AT, ids=ids), SMALL) is not None


@settings(max_examples=25, deadline=None)
@given(depth=st.integers(9, 200))
def test_deeply_nested_multiparts_are_not_parsed(depth: int) -> None:
    head = "From: x@attacker.test\r\nSubject: nest\r\nMIME-Version: 1.0\r\n"
    nest = "".join(f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(depth))
    raw = f"{head}{nest}Content-Type: text/plain\r\n\r\nx\r\n".encode()
    assert "multipart" in (prescan(raw, SMALL) or "")


@settings(max_examples=25, deadline=None)
@given(fields=st.integers(61, 2000), name=st.sampled_from(["X-Spam", "Received", "Comments"]))
def test_a_header_of_many_fields_is_not_parsed(fields: int, name: str) -> None:
    head = "".join(f"{name}: {n}\r\n" for n in range(fields))
    assert prescan(f"From: x@y.test\r\n{head}\r\nBonjour\r\n".encode(), SMALL) is not None  # fields or bytes


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.eml")), ids=lambda p: p.name)
def test_real_messages_pass_the_prescan_at_the_default_limits(path: object) -> None:
    assert prescan(path.read_bytes()) is None  # type: ignore[attr-defined]


def test_a_message_over_the_worker_memory_is_unreadable_and_the_next_is_read() -> None:
    """Past the pre-scan (its limits lifted here), a subject that takes the email package far more than
    64 MB: the worker stops at its RLIMIT_AS, the message is unreadable, the reader goes on with a new one."""
    lifted = ReadLimits(max_encoded_words=10**6, max_header_field_bytes=10**8, max_header_bytes=10**8, memory_mb=64)
    with MessageReader(lifted) as reader:
        with pytest.raises(UnreadableMessage, match="more than 64 MB of memory"):
            reader.read(encoded_words_bomb(to=US, at=AT, words=8000))
        after = reader.read((SAMPLES / "thunderbird_reply.eml").read_bytes())
    assert after.excerpt.startswith("Bonjour")


def test_a_message_over_the_worker_time_is_unreadable() -> None:
    with pytest.raises(UnreadableMessage, match=r"took more than 0\.001 s"):
        read_message_contained(big_body_bomb(to=US, at=AT, megabytes=0.5), limits=ReadLimits(seconds=0.001))


def test_the_worker_reads_what_read_message_reads() -> None:
    raw = sample_message("postfix_dsn.eml", message_id="<ours@x.test>", ref="PR2611-0042", customer="s@c.test")
    message = read_message_contained(raw)
    assert message == read_message(raw)
    assert message.failures[0].address == "s@c.test" and message.failures[0].permanent
    assert message.bounced_message_ids == ("<ours@x.test>",)
