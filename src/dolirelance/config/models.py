"""``[[models]]``: the texts of each follow-up model, with its language variants."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from dolirelance.config.values import Section, check_language

_TEMPLATE_FIELDS = ("email_subject", "email_text", "email_html", "email_markdown", "letter_subject", "letter_text")


class ModelVariant(Section):
    """The texts of a model in one language. ``*_file`` paths are relative to the config file."""

    email_subject: str | None = None
    email_text: str | None = None
    email_text_file: Path | None = None
    email_html: str | None = None
    email_html_file: Path | None = None
    # Markdown: the plain text as written, and the HTML made from it.
    email_markdown: str | None = None
    email_markdown_file: Path | None = None
    letter_subject: str | None = None
    letter_text: str | None = None
    letter_text_file: Path | None = None

    @model_validator(mode="after")
    def _inline_or_file(self) -> ModelVariant:
        for name in ("email_text", "email_html", "email_markdown", "letter_text"):
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"give {name} or {name}_file, not both")
        if self.has_email_field("email_markdown") and (
            self.has_email_field("email_text") or self.has_email_field("email_html")
        ):
            raise ValueError("email_markdown makes both the text and the HTML: give it alone, or email_text/email_html")
        return self

    def has_email_field(self, name: str) -> bool:
        return getattr(self, name) is not None or getattr(self, f"{name}_file", None) is not None

    @property
    def has_email_body(self) -> bool:
        return any(self.has_email_field(name) for name in ("email_text", "email_html", "email_markdown"))


class ModelSettings(ModelVariant):
    name: str = Field(min_length=1, max_length=60)
    variants: dict[str, ModelVariant] = Field(default_factory=dict)

    @field_validator("variants")
    @classmethod
    def _variant_languages(cls, value: dict[str, ModelVariant]) -> dict[str, ModelVariant]:
        for language in value:
            check_language(language)
        return value

    @model_validator(mode="after")
    def _complete(self) -> ModelSettings:
        missing = [
            name
            for name in ("email_subject", "letter_subject", "letter_text")
            if getattr(self, name) is None and getattr(self, f"{name}_file", None) is None
        ]
        if not self.has_email_body:
            missing.insert(1, "an e-mail body (email_text, email_html or email_markdown)")
        if missing:
            raise ValueError(f"model {self.name!r} lacks {', '.join(missing)} (inline text or a *_file)")
        return self
