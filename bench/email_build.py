"""Cost of one follow-up e-mail: rendering the model and building the message, text only vs text + HTML.

The sample follow-up (``render.sample_context``) with a 150 kB quote PDF, the demo's logo and a Dolibarr
signature with an embedded picture; ``build`` includes ``message_bytes()`` (what SMTP sends); ``std``
is the same with the standard library's ``as_bytes()``, for comparison. One Renderer per
run, as in the product (the sanitised signature and the logo are made once per Renderer). Times are
CPU time of this process, so that other work on the machine does not blur them.

Run: .venv/bin/python bench/email_build.py [--count 300]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import tempfile
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from importlib.resources import files
from pathlib import Path

from dolirelance.config import Settings, parse_config
from dolirelance.domain import Recipient
from dolirelance.mail import build_email, message_bytes
from dolirelance.render import FollowUpContext, Renderer, sample_context
from dolirelance.starter import starter_config_text, write_default_templates

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 600  # ~150 kB, like a one-page quote with a logo


def settings_in(folder: Path, *, html: bool) -> Settings:
    write_default_templates(folder)
    (folder / "logo.png").write_bytes((files("dolirelance.testing") / "demo-logo.png").read_bytes())
    text = starter_config_text().replace("[email]\n", '[email]\nlogo = "logo.png"\n')
    if not html:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("email_html_file"))
    return parse_config(text, source="bench", base_dir=folder)


def measure(settings: Settings, ctx: FollowUpContext, count: int) -> tuple[float, float, float, int]:
    renderer = Renderer(settings)
    recipients = (Recipient("julie.dupont@boulangerie-martin.fr", "Julie Dupont", "customer"),)
    renderer.render("1ère relance", ctx)  # warm: compiled models, signature, logo
    started = time.process_time()
    for _ in range(count):
        rendered = renderer.render("1ère relance", ctx)
    rendering = (time.process_time() - started) / count
    def build() -> EmailMessage:
        return build_email(
            smtp=settings.smtp,
            sender_user=ctx.user,
            recipients=recipients,
            rendered=rendered,
            attachments=[("PR2611-0001.pdf", PDF)],
            now=datetime(2026, 11, 28, 8, 30, tzinfo=UTC),
            automatic=True,
        )

    started = time.process_time()
    size = 0
    for _ in range(count):
        size = len(message_bytes(build()))
    building = (time.process_time() - started) / count
    started = time.process_time()
    for _ in range(count):
        build().as_bytes(policy=SMTP)
    standard = (time.process_time() - started) / count
    return rendering * 1000, building * 1000, standard * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    count = parser.parse_args().count
    picture = base64.b64encode((files("dolirelance.testing") / "demo-logo.png").read_bytes()).decode()
    ctx = sample_context(date(2026, 11, 28))
    signature = f'<p>Thomas Bernard<br><b>Chargé d\'affaires</b></p><img src="data:image/png;base64,{picture}">'
    ctx = dataclasses.replace(ctx, user=dataclasses.replace(ctx.user, signature_html=signature))
    print(f"{count} messages each; per message (ms): render, build + bytes sent; the standard as_bytes; size")
    for html in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            rendering, building, standard, size = measure(settings_in(Path(folder), html=html), ctx, count)
        label = "text + HTML" if html else "text only  "
        print(f"  {label}: render {rendering:6.2f}  build {building:6.2f}  total {rendering + building:6.2f}  "
              f"(std {standard:6.2f})  {size / 1024:6.1f} kB")


if __name__ == "__main__":
    main()
