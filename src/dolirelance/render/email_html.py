"""The HTML e-mail's company layout, and the logo as an inline image."""

from __future__ import annotations

from pathlib import Path

from dolirelance.htmlmail import InlineImage

LAYOUT_TEXT = (Path(__file__).parent.parent / "defaults" / "email-layout.html").read_text(encoding="utf-8")
_IMAGE_SUBTYPES = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif"}


def logo_image(path: Path, cid_domain: str) -> InlineImage | None:
    """The logo file as an inline image; None (the company's name is shown instead) when unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    subtype = next((kind for magic, kind in _IMAGE_SUBTYPES.items() if data.startswith(magic)), None)
    if subtype is None:
        return None  # an SVG or a PDF: mail clients would not show it
    return InlineImage(f"logo@{cid_domain}", data, subtype, f"logo.{subtype}")
