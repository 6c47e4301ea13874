"""Reading the replies mailbox: requests to Dolibarr and wall time per message, against a real dovecot.

The automatic run of the sample day e-mails three quotes; then ``--messages`` messages arrive (a mix of
replies to those e-mails, hard bounces, French out-of-office answers and unrelated mail) and
``read_replies`` reads them once. A second reading shows what a mailbox with nothing new costs.
The fake Dolibarr answers in-process with the cost model of a real Dolibarr 20 (``CostModel``).

With ``--bombs``: the messages of issue 24 that took a reader down (a Subject of 20,000 encoded words,
~340 KB; 50,000 MIME parts; a 50 MB body; a References header of 100,000 ids), then a customer's
genuine reply, in a real dovecot; ``dolirelance replies --once`` run twice as a process, against the
fake Dolibarr served over HTTP. Prints each run's wall time and the peak memory (RSS) of its process
tree (the reader and its parsing worker, sampled every 10 ms); targets: under 60 s and 400 MB each
(under 200 MB for the reading), the genuine reply recorded once.

Run: .venv/bin/python bench/replies.py [--messages 100] [--bombs]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from dolirelance.config import load_config
from dolirelance.demo import write_demo_config
from dolirelance.service import open_runtime, read_replies, run_auto
from dolirelance.testing import CostModel, FakeDolibarr, create_app, load_sample_data
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.mailbox_samples import (
    big_body_bomb,
    customer_reply,
    encoded_words_bomb,
    hard_bounce,
    mime_parts_bomb,
    references_bomb,
)
from dolirelance.testing.server import serve_in_thread
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


def tree_rss_mb(pid: int) -> float:
    """The resident memory of a process and all its descendants (Linux /proc), in MB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    pending += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def run_measured(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``command`` to its end: (wall seconds, peak MB of its process tree, the result)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate(timeout=600)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return elapsed, peak, subprocess.CompletedProcess(command, process.returncode, out, err)


def bombs(to: str, at: datetime) -> list[tuple[str, bytes]]:
    return [
        ("20,000 encoded words in Subject", encoded_words_bomb(to=to, at=at)),
        ("50,000 MIME parts", mime_parts_bomb(to=to, at=at)),
        ("a 50 MB body", big_body_bomb(to=to, at=at)),
        ("References of 100,000 ids", references_bomb(to=to, at=at)),
    ]


def main_bombs() -> None:
    fake = FakeDolibarr(timezone="Europe/Paris")  # the CLI runs on the real clock: today's sample data
    sample = load_sample_data(fake, datetime.now(ZoneInfo("Europe/Paris")).date())
    with (
        tempfile.TemporaryDirectory() as tmp,
        SmtpSink() as sink,
        DovecotServer() as dovecot,
        serve_in_thread(create_app(fake)) as url,
    ):
        config = write_demo_config(Path(tmp), dolibarr_url=url, api_key=sample.api_keys["jdupont"],
                                   smtp_port=sink.port, imap=dovecot)  # fmt: skip
        cli = [sys.executable, "-m", "dolirelance", "--config", str(config)]
        sent = subprocess.run([*cli, "run", "--once"], capture_output=True, text=True, timeout=300)
        if not sink.messages:
            raise SystemExit(f"the automatic run sent nothing: {sent.stdout}{sent.stderr}")
        first = sink.messages[0]
        customer, message_id = first.rcpt_tos[0], str(first.message["Message-ID"])
        now = datetime.now(UTC)
        for label, raw in bombs("devis@example.test", now):
            dovecot.deliver(raw)
            print(f"delivered: {label} ({len(raw) / 1024:,.0f} KB)")
        dovecot.deliver(customer_reply(sender=customer, sender_name="Client", to="devis@example.test",
                                       subject=str(first.message["Subject"]), in_reply_to=message_id,
                                       at=now))  # fmt: skip
        print("delivered: a genuine reply (In-Reply-To our e-mail)")
        for run in (1, 2):
            elapsed, peak, result = run_measured([*cli, "replies", "--once"])
            print(f"replies --once #{run}: {elapsed:.1f} s, peak {peak:.0f} MB (process tree), "
                  f"exit {result.returncode} (targets: < 60 s, < 400 MB; < 200 MB for the reading)")  # fmt: skip
            for line in result.stdout.strip().splitlines()[-8:]:
                print(f"    {line}")
        replies = [e for e in fake.events.values() if e.code == "AC_RELANCE_REPLY"]
        print(f"genuine reply recorded {len(replies)} time(s) (target: once)")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--bombs", action="store_true", help="the messages that took a reader down, then a reply")
    arguments = parser.parse_args()
    if arguments.bombs:
        main_bombs()
    else:
        asyncio.run(main(arguments.messages))
