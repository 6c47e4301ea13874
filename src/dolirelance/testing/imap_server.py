"""A real IMAP server on loopback for tests and the demo: Debian's dovecot, started unprivileged.

>>> with DovecotServer() as server:
...     server.deliver(raw_message)            # IMAP APPEND into INBOX
...     ...                                    # read it at server.host:server.port, user/password

Dovecot runs as the current user (as ``nobody`` when started by root), listens on a free port of
127.0.0.1 without TLS, keeps its mail in a temporary maildir and authenticates one user from a
passwd-file. Nothing is installed or left behind.

With ``oauth=`` (a :class:`~dolirelance.testing.oauth_server.OAuthServer`), dovecot also takes the SASL
XOAUTH2 and OAUTHBEARER sign-ins, its ``oauth2`` passdb asking the server's introspection URL whether the
token is active and for which user (the password still works, for :meth:`DovecotServer.deliver`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import imap_tools

from dolirelance.testing.smtp_sink import free_port

if TYPE_CHECKING:
    from dolirelance.testing.oauth_server import OAuthServer

DOVECOT_BINARY = "/usr/sbin/dovecot"
_UNPRIVILEGED_USER = "nobody"


def dovecot_available() -> bool:
    return Path(DOVECOT_BINARY).is_file() and os.access(DOVECOT_BINARY, os.X_OK)


class DovecotServer:
    """One dovecot with one mailbox (``user`` / ``password``); started in ``__enter__``."""

    def __init__(
        self,
        user: str = "relances@example.test",
        password: str = "imap-secret",
        *,
        oauth: OAuthServer | None = None,
        introspection_mode: str = "post",
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.user = user
        self.password = password
        self.oauth = oauth
        self.introspection_mode = introspection_mode
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- life ---------------------------------------------------------------------------------

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if not dovecot_available():
            raise RuntimeError(f"dovecot is not installed ({DOVECOT_BINARY}): apt-get install dovecot-imapd")
        self._dir = Path(tempfile.mkdtemp(prefix="dolirelance-dovecot-"))
        run_as = _run_as()
        self.port = free_port(self.host)
        config = self._write_config(run_as)
        if os.geteuid() == 0:
            for path in [self._dir, *self._dir.rglob("*")]:
                os.chown(path, run_as.pw_uid, run_as.pw_gid)
        command = [DOVECOT_BINARY, "-F", "-c", str(config)]
        preexec = _drop_to(run_as) if os.geteuid() == 0 else None
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec
        )
        self._wait_listening()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _write_config(self, run_as: pwd.struct_passwd) -> Path:
        assert self._dir is not None
        root = self._dir
        for sub in ("run", "mail", "home"):
            (root / sub).mkdir()
        (root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n", encoding="utf-8")
        mechanisms = "plain login"
        oauth_passdb = ""
        if self.oauth is not None:
            mechanisms += " xoauth2 oauthbearer"
            # get: dovecot appends the token to the URL
            url = self.oauth.introspection_url + ("?token=" if self.introspection_mode == "get" else "")
            (root / "dovecot-oauth2.conf.ext").write_text(
                f"introspection_url = {url}\n"
                f"introspection_mode = {self.introspection_mode}\n"
                "username_attribute = username\n"
                "active_attribute = active\n"
                "active_value = true\n",
                encoding="utf-8",
            )
            oauth_passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"""
        config = root / "dovecot.conf"
        config.write_text(
            f"""
base_dir = {root}/run
state_dir = {root}/run
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
default_internal_user = {run_as.pw_name}
default_internal_group = {_group_name(run_as)}
default_login_user = {run_as.pw_name}
mail_location = maildir:{root}/mail/%u
mail_uid = {run_as.pw_uid}
mail_gid = {run_as.pw_gid}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {root}/passwd
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={run_as.pw_uid} gid={run_as.pw_gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
  user = {run_as.pw_name}
}}
service auth {{
  user = {run_as.pw_name}
}}
service auth-worker {{
  user = {run_as.pw_name}
}}
service anvil {{
  chroot =
  user = {run_as.pw_name}
}}
service stats {{
  user = {run_as.pw_name}
}}
service imap {{
  user = {run_as.pw_name}
}}
mail_plugins =
namespace inbox {{
  inbox = yes
  separator = /
}}
""",
            encoding="utf-8",
        )
        return config

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot stopped at start-up: {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.host}:{self.port}: {self.log_tail()}")

    def log_tail(self) -> str:
        if self._dir is None:
            return ""
        log_file = self._dir / "dovecot.log"
        return log_file.read_text(encoding="utf-8", errors="replace")[-2000:] if log_file.exists() else ""

    # -- mail ---------------------------------------------------------------------------------

    def mailbox(self) -> imap_tools.MailBoxUnencrypted:
        """A logged-in client (close it, or use it as a context manager)."""
        return imap_tools.MailBoxUnencrypted(self.host, self.port).login(self.user, self.password)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in ``folder`` with IMAP APPEND, as a delivery would."""
        with self.mailbox() as box:
            if not box.folder.exists(folder):
                box.folder.create(folder)
            box.append(raw, folder, flag_set=())

    def create_folder(self, folder: str) -> None:
        with self.mailbox() as box:
            if not box.folder.exists(folder):
                box.folder.create(folder)

    def messages(self, folder: str = "INBOX") -> list[tuple[int, frozenset[str], bytes]]:
        """(uid, flags, raw message) of every message in ``folder``, read without changing anything."""
        with self.mailbox() as box:
            if not box.folder.exists(folder):
                return []
            box.folder.set(folder, readonly=True)
            return [
                (int(msg.uid or 0), frozenset(msg.flags), msg.obj.as_bytes())
                for msg in box.fetch(mark_seen=False, bulk=True)
            ]


def _run_as() -> pwd.struct_passwd:
    return pwd.getpwnam(_UNPRIVILEGED_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())


def _group_name(user: pwd.struct_passwd) -> str:
    import grp

    return grp.getgrgid(user.pw_gid).gr_name


def _drop_to(user: pwd.struct_passwd):  # type: ignore[no-untyped-def]
    def drop() -> None:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return drop
