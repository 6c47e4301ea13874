"""The Renderer: compiles every model and variant once, renders follow-ups, checks models.

Every model and every language variant is compiled once, up front, and checked against the variable
catalogue so that a typo is reported with the model, the field, the line and a suggestion
before anything is sent.
"""

from __future__ import annotations

import difflib
import functools
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.environment import Template
from markupsafe import Markup

from dolirelance.config import ModelSettings, ModelVariant, Settings, model_text
from dolirelance.domain import User, model_level, split_address
from dolirelance.errors import TemplateError
from dolirelance.htmlmail import (
    InlineImage,
    SanitizedHtml,
    html_problems,
    html_to_text,
    markdown_to_html,
    sanitize_signature,
)
from dolirelance.render.catalogue import JINJA_NAMES, catalogue, catalogue_tree, dotted_path, first_unknown
from dolirelance.render.context import FollowUpContext, RenderedFollowUp, language_of, variables
from dolirelance.render.dolibarr_keys import ALIAS_RE, alias_expression
from dolirelance.render.email_html import LAYOUT_TEXT, logo_image
from dolirelance.render.samples import hostile_context
from dolirelance.render.sandbox import (
    BUDGET,
    DEFAULT_LIMITS,
    Budget,
    LimitExceeded,
    RenderLimits,
    bound_loops_and_concat,
    bounded_environment,
)
from dolirelance.render.source import Source, template_line

TEXT_FIELDS = ("email_subject", "email_text", "email_html", "email_markdown", "letter_subject", "letter_text")
# The e-mail bodies of a language variant go together: a variant that gives one never borrows another
# from the base model (no French HTML beside an English text).
_EMAIL_BODIES = ("email_text", "email_html", "email_markdown")
# A Markdown model is compiled twice: once as text (values as they are), once as HTML (values escaped).
_MARKDOWN_AS_HTML = "email_markdown:html"
_HTML_FIELDS = frozenset({"email_html", _MARKDOWN_AS_HTML})


@dataclass(frozen=True)
class _Compiled:
    source: Source
    template: Template | None
    errors: tuple[TemplateError, ...]


class Renderer:
    """Compiles every model once; renders follow-ups; checks every model for ``config check``."""

    def __init__(self, settings: Settings, *, limits: RenderLimits = DEFAULT_LIMITS) -> None:
        self._settings = settings
        self._limits = limits
        self._base_lang = (settings.followup.default_language or "fr").lower()
        self._text_env = bounded_environment(autoescape=False)
        self._html_env = bounded_environment(autoescape=True)
        self._known = catalogue_tree()
        self._names = catalogue()
        names = [model.name for model in settings.models]
        self._levels = {name: model_level(names, name) or 0 for name in names}
        # (model, lang or None, field) → compiled template
        self._compiled: dict[tuple[str, str | None, str], _Compiled] = {}
        for model in settings.models:
            self._compile_variant(model, model, None)
            for lang, variant in model.variants.items():
                self._compile_variant(model, variant, lang.lower())
        layout_source = Source("(e-mail layout)", None, "email_html", None)
        layout = self._compile(layout_source, LAYOUT_TEXT, extra_names=frozenset({"body", "subject"}))
        assert layout.template is not None, layout.errors
        self._layout = layout
        email = settings.email
        self._allowed_image_hosts = frozenset(email.allowed_image_hosts)
        self._colors = {"brand": email.brand_color, "text": email.text_color}
        try:
            self._cid_domain = split_address(settings.smtp.sender)[2]
        except ValueError:
            self._cid_domain = "dolirelance.invalid"
        # Dolibarr signature (as sent) → sanitised: made once per sales person, not per message.
        self._signatures: dict[str, tuple[SanitizedHtml, str]] = {}

    @functools.cached_property
    def logo(self) -> InlineImage | None:
        """The logo of HTML e-mails ([email] logo, else [letter] logo), read once; None without one."""
        path = self._settings.email.logo or self._settings.letter.logo
        return None if path is None else logo_image(self._settings.resolve_path(path), self._cid_domain)

    def signature_html(self, user: User) -> SanitizedHtml:
        """The sales person's Dolibarr signature, sanitised (remembered for the Renderer's life)."""
        return self._signature_of(user)[0]

    def _signature_of(self, user: User) -> tuple[SanitizedHtml, str]:
        """(sanitised HTML, its text): both made once per distinct Dolibarr signature."""
        raw = user.signature_html
        found = self._signatures.get(raw)
        if found is None:
            sanitized = sanitize_signature(
                raw, allowed_image_hosts=self._allowed_image_hosts, cid_domain=self._cid_domain
            )
            found = (sanitized, html_to_text(sanitized.html).strip("\n") if sanitized.html else "")
            if len(self._signatures) < 1000:
                self._signatures[raw] = found
        return found

    @property
    def model_names(self) -> list[str]:
        return list(self._levels)

    def level_of(self, model_name: str) -> int:
        """1-based position of a model in the configuration (its follow-up level)."""
        return self._levels[model_name]

    def variant_for(self, model_name: str, ctx: FollowUpContext) -> str | None:
        """The variant language used for this addressee, or None for the base texts."""
        model = self._model(model_name)
        wanted = language_of(getattr(ctx.contact, "default_lang", None)) or language_of(
            ctx.customer.default_lang
        )
        if wanted and wanted != self._base_lang and wanted in {k.lower() for k in model.variants}:
            return wanted
        return None

    def render(self, model_name: str, ctx: FollowUpContext) -> RenderedFollowUp:
        """Render every text of a model for one follow-up; raise the first :class:`TemplateError`."""
        variant = self.variant_for(model_name, ctx)
        body_owner = self._email_body_owner(model_name, variant)
        texts: dict[str, str | None] = {}
        langs: dict[str, str] = {}
        namespaces: dict[str, dict[str, Any]] = {}
        images: dict[str, InlineImage] = {}
        for field in (*TEXT_FIELDS, _MARKDOWN_AS_HTML):
            if field in _EMAIL_BODIES or field == _MARKDOWN_AS_HTML:
                compiled = self._compiled.get((model_name, body_owner, field))
            else:
                compiled = self._pick(model_name, variant, field)
            if compiled is None:
                texts[field] = None
                continue
            if compiled.errors:
                raise compiled.errors[0]
            lang = compiled.source.lang or self._base_lang
            if lang not in namespaces:
                namespaces[lang] = self._namespace(ctx, lang, images)
            langs[field] = lang
            texts[field] = self._run(compiled, namespaces[lang])
        email_text, email_html, email_lang = self._email_bodies(texts, langs)
        for problem in self._html_checks(email_html, texts, langs, model_name, unsafe_only=True):
            raise problem
        letter_lang = langs.get("letter_text", email_lang)
        document = None
        if email_html is not None:
            document = self._in_layout(email_html, namespaces[email_lang], _one_line(texts["email_subject"] or ""))
        return RenderedFollowUp(
            model_name=model_name,
            lang=email_lang,
            email_subject=_one_line(texts["email_subject"] or ""),
            email_text=email_text,
            email_html=document,
            letter_subject=_one_line(texts["letter_subject"] or ""),
            letter_text=texts["letter_text"] or "",
            letter_lang=None if letter_lang == email_lang else letter_lang,
            inline_images=tuple(image for image in images.values() if document and image.src in document),
        )

    def check(self, ctx: FollowUpContext) -> list[TemplateError]:
        """Render every model and variant against ``ctx``, then against the largest data Dolibarr
        may send (:func:`hostile_context`), under the same limits; return every error found,
        unsafe or broken HTML included."""
        errors = self._check_with(ctx, html=True)
        logo_path = self._settings.email.logo or self._settings.letter.logo
        if logo_path is not None and self.logo is None:
            errors.append(
                TemplateError(
                    f"the logo {self._settings.resolve_path(logo_path)} is not a PNG, JPEG or GIF image: "
                    "HTML e-mails would show the company's name instead",
                    remedy="give [email] logo a PNG file (mail clients do not show SVG or PDF images)",
                )
            )
        seen = {str(error) for error in errors}
        for error in self._check_with(hostile_context(ctx.today), html=False):
            if str(error) not in seen:
                errors.append(
                    TemplateError(
                        f"{error.message} (with the longest names, notes and amounts Dolibarr may send)",
                        remedy=error.remedy,
                    )
                )
                seen.add(str(error))
        return errors

    def _check_with(self, ctx: FollowUpContext, *, html: bool) -> list[TemplateError]:
        errors: list[TemplateError] = []
        namespaces: dict[str, dict[str, Any]] = {}
        for compiled in self._compiled.values():
            if compiled.errors:
                errors.extend(compiled.errors)
                continue
            if compiled.template is None:
                continue
            lang = compiled.source.lang or self._base_lang
            model_ctx = replace(ctx, model_name=compiled.source.model, level=self._levels[compiled.source.model])
            key = f"{lang}|{compiled.source.model}"
            if key not in namespaces:
                namespaces[key] = self._namespace(model_ctx, lang, {})
            try:
                output = self._run(compiled, namespaces[key])
                if compiled.source.field == _MARKDOWN_AS_HTML:
                    output = markdown_to_html(output)
                if compiled.source.field in _HTML_FIELDS:  # the layout is bounded by the same limits
                    self._in_layout(output, namespaces[key], "")
            except TemplateError as exc:
                errors.append(exc)
                continue
            if html and compiled.source.field in _HTML_FIELDS:
                errors.extend(self._problems_of(output, compiled.source, unsafe_only=False))
        return errors

    # -- e-mail bodies ----------------------------------------------------------------------

    def _email_body_owner(self, model_name: str, variant: str | None) -> str | None:
        """Whose e-mail bodies are used: the variant's when it gives any, else the base model's."""
        if variant is not None and any((model_name, variant, f) in self._compiled for f in _EMAIL_BODIES):
            return variant
        return None

    def _namespace(self, ctx: FollowUpContext, lang: str, images: dict[str, InlineImage]) -> dict[str, Any]:
        """:func:`variables` with the look of HTML e-mails: sanitised signature, logo, colours."""
        namespace = variables(ctx, lang)
        signature, signature_text = self._signature_of(ctx.user)
        if signature.html:
            namespace["user"]["signature_html"] = Markup(signature.html)
            # the text signature from the same sanitised HTML: no script's text in the plain part either
            namespace["user"]["signature"] = signature_text or namespace["user"]["signature"]
            images.update((image.cid, image) for image in signature.images)
        logo = self.logo
        if logo is not None:
            namespace["company"]["logo_url"] = logo.src
            images[logo.cid] = logo
        namespace["colors"] = dict(self._colors)
        return namespace

    def _email_bodies(
        self, texts: Mapping[str, str | None], langs: Mapping[str, str]
    ) -> tuple[str, str | None, str]:
        """(plain text, HTML body or None, language): each body given, or made from the other."""
        markdown = texts.get("email_markdown")
        if markdown is not None:
            return markdown, markdown_to_html(texts[_MARKDOWN_AS_HTML] or ""), langs["email_markdown"]
        html = texts.get("email_html")
        text = texts.get("email_text")
        lang = langs.get("email_text") or langs.get("email_html") or self._base_lang
        if text is None:
            text = html_to_text(html) if html is not None else ""
        return text, html, lang

    def _in_layout(self, body: str, namespace: Mapping[str, Any], subject: str) -> str:
        """The model's HTML inside the company layout; a model that writes a whole document keeps its own."""
        if re.match(r"\s*(<!doctype|<html)", body, re.IGNORECASE):
            return body
        return self._run(self._layout, {**namespace, "body": Markup(body), "subject": subject})

    def _html_checks(
        self,
        html: str | None,
        texts: Mapping[str, str | None],
        langs: Mapping[str, str],
        model_name: str,
        *,
        unsafe_only: bool,
    ) -> Iterator[TemplateError]:
        if html is None:
            return
        field = "email_markdown" if texts.get("email_markdown") is not None else "email_html"
        lang = langs.get(field)
        compiled = self._compiled.get((model_name, None if lang == self._base_lang else lang, field))
        source = compiled.source if compiled else Source(model_name, None, field, None)
        yield from self._problems_of(html, source, unsafe_only=unsafe_only)

    def _problems_of(self, html: str, source: Source, *, unsafe_only: bool) -> Iterator[TemplateError]:
        for problem in html_problems(html, allowed_image_hosts=self._allowed_image_hosts):
            if unsafe_only and not problem.unsafe:
                continue
            kind = "unsafe HTML" if problem.unsafe else "broken HTML"
            yield TemplateError(
                f"{source.where()}: {kind} at line {problem.line} of the HTML as rendered: {problem.message}",
                remedy=(
                    "remove it from the model: e-mails carry no scripts, forms or remote content "
                    "(allow image hosts in [email] allowed_image_hosts)"
                    if problem.unsafe
                    else "close every tag you open; some mail clients show the rest of the mail badly"
                ),
            )

    # -- internals --------------------------------------------------------------------------

    def _model(self, name: str) -> ModelSettings:
        try:
            return self._settings.model(name)
        except KeyError:
            known = ", ".join(self._levels)
            raise TemplateError(
                f"there is no model named {name!r}", remedy=f"use one of the models: {known}"
            ) from None

    def _pick(self, model_name: str, variant: str | None, field: str) -> _Compiled | None:
        self._model(model_name)
        if variant is not None:
            found = self._compiled.get((model_name, variant, field))
            if found is not None:
                return found
        return self._compiled.get((model_name, None, field))

    def _compile_variant(self, model: ModelSettings, variant: ModelVariant, lang: str | None) -> None:
        for field in TEXT_FIELDS:
            file_path = getattr(variant, f"{field}_file", None)
            resolved = self._settings.resolve_path(file_path) if file_path is not None else None
            source = Source(model.name, lang, field, resolved)
            try:
                text = model_text(self._settings, variant, field)
            except (OSError, UnicodeDecodeError) as exc:
                error = TemplateError(
                    f"{source.where()}: cannot read the template file: {exc}",
                    remedy="paths are relative to the configuration file's directory",
                )
                self._compiled[(model.name, lang, field)] = _Compiled(source, None, (error,))
                continue
            if text is None:
                continue
            self._compiled[(model.name, lang, field)] = self._compile(source, text)
            if field == "email_markdown":
                as_html = replace(source, field=_MARKDOWN_AS_HTML)
                self._compiled[(model.name, lang, _MARKDOWN_AS_HTML)] = self._compile(as_html, text)

    def _compile(self, source: Source, text: str, *, extra_names: frozenset[str] = frozenset()) -> _Compiled:
        env = self._html_env if source.field in _HTML_FIELDS else self._text_env
        errors: list[TemplateError] = []
        rewritten = ALIAS_RE.sub(lambda m: alias_expression(m, source, text, errors), text)
        if errors:
            return _Compiled(source, None, tuple(errors))
        try:
            ast = env.parse(rewritten, name=source.filename, filename=source.filename)
        except TemplateSyntaxError as exc:
            error = TemplateError(
                f"{source.where(exc.lineno)}: template syntax error: {exc.message}",
                remedy="check the {{ }} and {% %} pairs on that line; see docs/templates.md",
            )
            return _Compiled(source, None, (error,))
        errors.extend(self._unknown_variables(source, ast, extra_names))
        if errors:
            return _Compiled(source, None, tuple(errors))
        bound_loops_and_concat(ast)
        code = env.compile(ast, name=source.filename, filename=source.filename)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        return _Compiled(source, template, ())

    def _unknown_variables(
        self, source: Source, ast: nodes.Template, extra_names: frozenset[str]
    ) -> Iterator[TemplateError]:
        assigned = {node.name for node in ast.find_all(nodes.Name) if node.ctx in ("store", "param")} | extra_names
        assigned |= {node.name for node in ast.find_all(nodes.Macro)}
        seen: set[str] = set()
        for node in ast.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
            dotted = dotted_path(node)
            if dotted is None or dotted[0] in assigned or dotted[0] in JINJA_NAMES:
                continue
            if dotted[0] in self._text_env.globals and dotted[0] not in self._known:
                continue
            unknown = first_unknown(self._known, dotted)
            if unknown is None or unknown in seen:
                continue
            seen.add(unknown)
            yield self._unknown_error(source, unknown, node.lineno)

    def _unknown_error(self, source: Source, name: str, line: int | None) -> TemplateError:
        close = difflib.get_close_matches(name, self._names, n=3, cutoff=0.6)
        if not close:
            stem = name.split(".")[0]
            close = [known for known in self._names if known.startswith(stem + ".")][:3]
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        return TemplateError(
            f"{source.where(line)}: unknown variable {name}{hint}",
            remedy="the variables are listed in docs/templates.md",
        )

    def _run(self, compiled: _Compiled, namespace: Mapping[str, Any]) -> str:
        assert compiled.template is not None
        source = compiled.source
        limits = self._limits
        token = BUDGET.set(Budget(limits, time.monotonic() + limits.max_seconds))
        chunks: list[str] = []
        length = 0
        try:
            for chunk in compiled.template.generate(namespace):
                length += len(chunk)
                if length > limits.max_output_chars:
                    raise LimitExceeded(f"the text would be longer than {limits.max_output_chars:,} characters")
                chunks.append(chunk)
        except TemplateError:
            raise
        except (Exception, MemoryError, RecursionError) as exc:  # inside a template: the template's problem
            line = template_line(exc.__traceback__, source.filename)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            limited = isinstance(exc, (LimitExceeded, MemoryError, RecursionError))
            raise TemplateError(
                f"{source.where(line)}: {message}",
                remedy=(
                    "simplify the template there: models are bounded in size, loops and time "
                    "(see docs/templates.md, Limits)"
                    if limited
                    else "the variables are listed in docs/templates.md"
                ),
            ) from None
        finally:
            BUDGET.reset(token)
        return _strip_blank_lines("".join(chunks))



def _one_line(text: str) -> str:
    return " ".join(text.split())


def _strip_blank_lines(text: str) -> str:
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""
