"""HTML for e-mails: the sales person's signature sanitised, models' HTML checked, conversions.

nh3 (sanitising), inscriptis (HTML → the plain-text alternative) and markdown (Markdown → HTML) live
only here. The rules, one per concern:

- A Dolibarr signature is someone else's HTML: :func:`sanitize_signature` keeps the tags and styles
  an e-mail client shows, drops scripts, handlers and forms, and turns every image into either an
  inline part (``data:`` images become ``cid:`` parts of the message) or, for hosts the admin
  allows, a remote image; any other remote image is dropped (no tracking, no broken pictures).
- A model's HTML is the admin's own: it is not rewritten, but :func:`html_problems` names what is
  unsafe or broken in it (``config check``, and unsafe HTML is refused before sending).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import markdown
import nh3
from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig


@dataclass(frozen=True)
class InlineImage:
    """An image carried inside the message and shown with ``<img src="cid:...">``."""

    cid: str  # without angle brackets
    data: bytes
    subtype: str  # "png", "jpeg", "gif"
    filename: str

    @property
    def src(self) -> str:
        return f"cid:{self.cid}"

    def data_uri(self) -> str:
        return f"data:image/{self.subtype};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class SanitizedHtml:
    """Sanitised HTML and the inline images it refers to by ``cid:``."""

    html: str
    images: tuple[InlineImage, ...] = field(default=())


# What an e-mail client shows; everything else is dropped (its text kept, except for the
# elements below whose content is code or a form).
_SIGNATURE_TAGS = frozenset(
    {
        "a", "b", "big", "blockquote", "br", "center", "div", "em", "font", "h1", "h2", "h3", "h4",
        "hr", "i", "img", "li", "ol", "p", "small", "span", "strong", "sub", "sup", "table", "tbody",
        "td", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
_DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "form", "noscript", "template"})
_SIGNATURE_ATTRIBUTES = {
    "*": {"style", "align", "title", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "table": {"width", "cellpadding", "cellspacing", "border", "bgcolor"},
    "td": {"width", "valign", "colspan", "rowspan", "bgcolor"},
    "th": {"width", "valign", "colspan", "rowspan", "bgcolor"},
}
# Style properties that only change how text and boxes look (no position, no url(), no behaviour).
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font-family", "font-size", "font-weight", "font-style",
        "text-decoration", "text-align", "line-height", "margin", "margin-top", "margin-bottom",
        "margin-left", "margin-right", "padding", "padding-top", "padding-bottom", "padding-left",
        "padding-right", "border", "border-top", "border-bottom", "border-left", "border-right",
        "width", "height", "max-width", "vertical-align", "white-space",
    }
)  # fmt: skip
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid", "data"})
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|jpg|gif);base64,([A-Za-z0-9+/=\s]+)$", re.IGNORECASE)
_MAX_INLINE_IMAGE = 512 * 1024  # a signature picture beyond this is not a signature picture
# Text as a mail client without HTML would want it: no Markdown escapes, no link lists.
_TEXT_CONFIG = ParserConfig(css=CSS_PROFILES["relaxed"], display_links=False, display_anchors=False)


def sanitize_signature(html: str, *, allowed_image_hosts: frozenset[str], cid_domain: str) -> SanitizedHtml:
    """A Dolibarr user's HTML signature, safe to put in our e-mails (see the module's rules)."""
    if not html.strip():
        return SanitizedHtml("")
    images: list[InlineImage] = []

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "href":
            return value if urlsplit(value.strip()).scheme.lower() in ("http", "https", "mailto", "tel") else None
        if tag != "img" or attribute != "src":
            return value
        source = value.strip()
        embedded = _DATA_IMAGE.match(source)
        if embedded:
            try:
                data = base64.b64decode(embedded.group(2), validate=False)
            except (binascii.Error, ValueError):
                return None
            if not data or len(data) > _MAX_INLINE_IMAGE:
                return None
            subtype = "jpeg" if embedded.group(1).lower() == "jpg" else embedded.group(1).lower()
            digest = hashlib.sha256(data).hexdigest()[:16]
            image = InlineImage(f"sig-{digest}@{cid_domain}", data, subtype, f"signature-{len(images) + 1}.{subtype}")
            if image.cid not in {known.cid for known in images}:
                images.append(image)
            return image.src
        parts = urlsplit(source)
        if parts.scheme.lower() in ("http", "https") and (parts.hostname or "").lower() in allowed_image_hosts:
            return source
        return None  # a remote image from elsewhere, a relative link to Dolibarr, a cid we do not carry

    cleaned = nh3.clean(
        html,
        tags=set(_SIGNATURE_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _SIGNATURE_ATTRIBUTES.items()},
        attribute_filter=keep,
        url_schemes=set(_URL_SCHEMES),
        filter_style_properties=set(_STYLE_PROPERTIES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    cleaned = re.sub(r"<img(?![^>]*\ssrc=)[^>]*>", "", cleaned)  # an image whose source was dropped
    return SanitizedHtml(cleaned.strip(), tuple(images))


def html_to_text(html: str) -> str:
    """The plain-text alternative of an HTML body: paragraphs, line breaks and table cells as text."""
    text = get_text(html, _TEXT_CONFIG)
    lines = [line.rstrip() for line in text.replace("\xa0", " ").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def markdown_to_html(text: str) -> str:
    """Markdown (already HTML-escaped where it holds data) → an HTML fragment."""
    return str(markdown.markdown(text, extensions=["nl2br", "sane_lists"], output_format="html"))


def standalone_html(html: str, images: tuple[InlineImage, ...]) -> str:
    """The HTML part with its ``cid:`` images written in, to be opened in a browser (previews)."""
    for image in images:
        html = html.replace(f'"{image.src}"', f'"{image.data_uri()}"')
    return html


# --------------------------------------------------------------------------------------------
# Checking a model's HTML


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
# Closed implicitly by what follows them, as HTML allows: never reported as unclosed.
_OPTIONAL_END = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "html", "head", "body", "colgroup"}
)
_UNSAFE_TAGS = frozenset(
    {"script", "iframe", "object", "embed", "form", "input", "button", "frame", "frameset", "base"}
)
_SCRIPT_URL = ("javascript:", "vbscript:")


@dataclass(frozen=True)
class HtmlProblem:
    line: int
    message: str
    unsafe: bool  # unsafe: never sent; otherwise broken (shown badly by some clients)


class _Checker(HTMLParser):
    def __init__(self, allowed_image_hosts: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed_image_hosts = allowed_image_hosts
        self.problems: list[HtmlProblem] = []
        self.open: list[tuple[str, int]] = []

    def _add(self, message: str, *, unsafe: bool) -> None:
        self.problems.append(HtmlProblem(self.getpos()[0], message, unsafe))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check_tag(tag, attrs)
        if tag not in _VOID:
            self.open.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check_tag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        names = [name for name, _ in self.open]
        if tag not in names:
            self._add(f"</{tag}> closes nothing", unsafe=False)
            return
        while self.open:
            name, line = self.open.pop()
            if name == tag:
                return
            if name not in _OPTIONAL_END:
                self.problems.append(HtmlProblem(line, f"<{name}> is not closed before </{tag}>", False))

    def _check_tag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _UNSAFE_TAGS:
            self._add(f"<{tag}> is not allowed in an e-mail", unsafe=True)
        refresh = tag == "meta" and any(k == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs)
        if tag == "link" or refresh:
            self._add(f"<{tag}> loads or redirects to another page", unsafe=True)
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on"):
                self._add(f"<{tag} {name}=...>: event handlers (scripts) are not allowed", unsafe=True)
            elif name in ("href", "src", "action", "background") and value.lower().startswith(_SCRIPT_URL):
                self._add(f"<{tag} {name}=\"{value[:30]}\">: script links are not allowed", unsafe=True)
            elif name == "style" and re.search(r"url\s*\(|expression\s*\(|@import", value, re.IGNORECASE):
                self._add(f"<{tag} style=...>: url(), expression() and @import are not allowed", unsafe=True)
        if tag == "img":
            source = next((v or "" for k, v in attrs if k == "src"), "").strip()
            parts = urlsplit(source)
            remote = parts.scheme.lower() in ("http", "https")
            if remote and (parts.hostname or "").lower() not in self.allowed_image_hosts:
                self._add(
                    f"<img src=\"{source[:60]}\">: a remote image from a host not in [email] allowed_image_hosts",
                    unsafe=True,
                )
            elif parts.scheme.lower() not in ("http", "https", "cid", "data") and source:
                self._add(
                    f"<img src=\"{source[:60]}\">: the image cannot be shown (give a full https URL)",
                    unsafe=False,
                )

    def close(self) -> None:
        super().close()
        for name, line in self.open:
            if name not in _OPTIONAL_END:
                self.problems.append(HtmlProblem(line, f"<{name}> is never closed", False))
        self.open.clear()


def html_problems(html: str, *, allowed_image_hosts: frozenset[str]) -> list[HtmlProblem]:
    """What is unsafe (scripts, handlers, remote images not allowed) or broken (unclosed tags) in ``html``."""
    checker = _Checker(allowed_image_hosts)
    checker.feed(html)
    checker.close()
    return checker.problems
