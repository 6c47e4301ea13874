"""The text of reply and bounce events, written by `replies` and read back by every history view."""

from __future__ import annotations

from dolirelance.history import (
    bounce_reason_of,
    compose_bounce_text,
    compose_note,
    compose_reply_text,
    reply_excerpt_of,
)


def test_the_excerpt_and_the_reason_survive_notes_stored_as_html() -> None:
    """Dolibarr keeps notes as restricted HTML: with <br> line ends the excerpt and reason read the same."""
    excerpt = "Bonjour,\n\nNous signons lundi.\nCordialement"
    text = compose_reply_text(sender="a@b.test", sender_name="A", local_time="30/11/2026 09:12", subject="Re: x",
                              excerpt=excerpt, stored_file="reponse-PR1-1-2.eml")  # fmt: skip
    note = compose_note(text, {"key": "mail:1:2:3", "address": "a@b.test", "file": "reponse-PR1-1-2.eml"})
    assert reply_excerpt_of(note) == excerpt
    assert reply_excerpt_of(note.replace("\n", "<br>\n")) == excerpt
    assert reply_excerpt_of(note.replace("\n", "<br />")) == excerpt
    empty = compose_reply_text(sender="a@b.test", sender_name="", local_time="", subject="", excerpt="",
                               stored_file="f.eml")  # fmt: skip
    assert reply_excerpt_of(compose_note(empty, {"key": "k"})) is None
    reason = "550 5.1.1 <x@y.test>: Recipient address rejected: User unknown"
    bounce = compose_note(compose_bounce_text(sent_day="28/11/2026", address="x@y.test", reason=reason), {"k": "v"})
    assert bounce_reason_of(bounce) == reason  # the address the server quoted is no HTML tag
    assert bounce_reason_of(bounce.replace("\n", "<br>")) == reason
    assert bounce_reason_of(bounce.replace("<", "&lt;").replace(">", "&gt;")) == reason  # kept escaped
    assert bounce_reason_of("<p>" + bounce.replace("\n", "</p>\n<p>") + "</p>") == reason
    assert bounce_reason_of("a note somebody wrote") is None
