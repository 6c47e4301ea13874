"""Reading the replies mailbox: requests to Dolibarr and wall time per message, against a real dovecot.

The automatic run of the sample day e-mails three quotes; then ``--messages`` messages arrive (a mix of
replies to those e-mails, hard bounces, French out-of-office answers and unrelated mail) and
``read_replies`` reads them once. A second reading shows what a mailbox with nothing new costs.
The fake Dolibarr answers in-process with the cost model of a real Dolibarr 20 (``CostModel``).

Run: .venv/bin/python bench/replies.py [--messages 100]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from dolirelance.config import load_config
from dolirelance.demo import write_demo_config
from dolirelance.service import open_runtime, read_replies, run_auto
from dolirelance.testing import CostModel, FakeDolibarr, create_app, load_sample_data
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.mailbox_samples import customer_reply, hard_bounce
from dolirelance.testing.smtp_sink import SmtpSink

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)


def messages(sink: SmtpSink, count: int) -> list[tuple[str, bytes]]:
    sent = [(m.rcpt_tos[0], str(m.message["Subject"]), str(m.message["Message-ID"])) for m in sink.messages]
    made: list[tuple[str, bytes]] = []
    for n in range(count):
        to, subject, message_id = sent[n % len(sent)]
        kind = ("reply", "bounce", "auto-answer", "other")[n % 4]
        if kind == "reply":
            raw = customer_reply(sender=to, sender_name="Client", to="devis@example.test", subject=subject,
                                 in_reply_to=message_id, at=NOW)  # fmt: skip
        elif kind == "bounce":
            raw = hard_bounce(recipient=to, to="devis@example.test", subject=subject, returned_id=message_id, at=NOW)
        elif kind == "auto-answer":
            head = f"From: {to}\r\nTo: devis@example.test\r\nSubject: Réponse automatique : {subject}\r\n"
            raw = f"{head}Auto-Submitted: auto-replied\r\nIn-Reply-To: {message_id}\r\n\r\nAbsent.\r\n".encode()
        else:
            raw = f"From: news@example.test\r\nSubject: Lettre {n}\r\nMessage-ID: <n{n}@x>\r\n\r\nBonjour\r\n".encode()
        made.append((kind, raw))
    return made


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, SmtpSink() as sink, DovecotServer() as dovecot:
        fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: NOW)
        sample = load_sample_data(fake, TODAY)
        config = write_demo_config(Path(tmp), dolibarr_url="http://dolibarr.test/api/index.php",
                                   api_key=sample.api_keys["jdupont"], smtp_port=sink.port, imap=dovecot)  # fmt: skip
        settings = load_config(config)
        transport = httpx.ASGITransport(app=create_app(fake))
        async with open_runtime(settings, transport=transport, now=lambda: NOW) as rt:
            await run_auto(rt)
            made = messages(sink, count)
            for _, raw in made:
                dovecot.deliver(raw)
            fake.cost = CostModel()
            before = len(fake.requests)
            started = time.perf_counter()
            report = await read_replies(rt)
            elapsed = time.perf_counter() - started
            requests = len(fake.requests) - before
            kinds = Counter(m.kind for m in report.messages)
            print(f"{count} messages ({dict(Counter(kind for kind, _ in made))}) read once:")
            print(f"  sorted as {dict(kinds)}; failed {len(report.of('failed'))}")
            print(f"  {requests} Dolibarr requests ({requests / max(1, len(report.of('recorded'))):.1f} per message "
                  f"recorded), {elapsed:.2f} s ({elapsed / count * 1000:.0f} ms per message)")  # fmt: skip
            before = len(fake.requests)
            started = time.perf_counter()
            await read_replies(rt)
            print(f"  read again, nothing new: {len(fake.requests) - before} requests, "
                  f"{time.perf_counter() - started:.2f} s")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100)
    asyncio.run(main(parser.parse_args().messages))
