"""The Dolibarr module shipped with dolirelance: the zip's layout, `php -l` on every PHP file, its PHPUnit
tests (tests/php: facts reader, token signing, table building), and its table built from the events the
Python side really writes.

PHP is Debian's php-cli and phpunit (.ci/run installs them). Without them these tests skip on a developer's
machine and fail in CI (``CI`` set), so that a missing PHP is never a silent pass there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest

from conftest import SAMPLE_NOW
from dolirelance import __version__
from dolirelance.dolibarr_module_zip import build_module_zip, module_files, zip_name
from dolirelance.domain import Channel, EventFilter
from dolirelance.history import record_of
from dolirelance.service import Runtime, follow_up
from dolirelance.service.access import MODULE_READ_RIGHT, MODULE_WRITE_RIGHT
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from in_process_cli import run_main
from test_web import FAKE_URL, web_settings

REPO = Path(__file__).resolve().parent.parent
PHP_TESTS = REPO / "tests" / "php"
MODULE_CLASSES = REPO / "src" / "dolirelance" / "dolibarr_module" / "dolirelance" / "class"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (Debian: apt-get install php-cli phpunit)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must run the Dolibarr module's PHP tests")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def php() -> str:
    return _tool("php")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    return build_module_zip(tmp_path / "dist", __version__)


def _module_text(path: str) -> str:
    return dict(module_files())[f"dolirelance/{path}"].read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the zip


def test_the_zip_holds_the_module_folder_with_its_version(built: Path) -> None:
    assert built.name == f"module_dolirelance-{__version__}.zip"
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        descriptor = archive.read("dolirelance/core/modules/modDolirelance.class.php").decode()
    assert all(name.startswith("dolirelance/") for name in names)
    for needed in (
        "dolirelance/core/modules/modDolirelance.class.php",
        "dolirelance/core/boxes/box_dolirelance_todo.php",
        "dolirelance/admin/setup.php",
        "dolirelance/langs/fr_FR/dolirelance.lang",
        "dolirelance/langs/en_US/dolirelance.lang",
        "dolirelance/propal_relances.php",
        "dolirelance/societe_relances.php",
        "dolirelance/relances_list.php",
        "dolirelance/go.php",
        "dolirelance/class/DolirelanceFacts.php",
        "dolirelance/class/DolirelanceToken.php",
        "dolirelance/class/DolirelanceTable.php",
        "dolirelance/lib/dolirelance.lib.php",
        "dolirelance/lib/main_loader.inc.php",
    ):
        assert needed in names
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".py"))]
    assert f"$this->version = '{__version__}';" in descriptor
    assert "class modDolirelance extends DolibarrModules" in descriptor


def test_the_same_version_gives_the_same_bytes(tmp_path: Path) -> None:
    one = build_module_zip(tmp_path / "a", "1.2.3")
    two = build_module_zip(tmp_path / "b", "1.2.3")
    assert hashlib.sha256(one.read_bytes()).digest() == hashlib.sha256(two.read_bytes()).digest()
    assert one.name == zip_name("1.2.3") == "module_dolirelance-1.2.3.zip"
    assert not list((tmp_path / "a").glob("*.part"))


def test_the_command_writes_the_zip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(["dolibarr-module", "--out", str(tmp_path / "out")], capsys, monkeypatch)
    assert result.code == 0, result.text
    written = tmp_path / "out" / f"module_dolirelance-{__version__}.zip"
    assert zipfile.is_zipfile(written)
    assert str(written) in result.flat and "custom/" in result.flat


def test_an_unwritable_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_main(["dolibarr-module", "--out", str(blocker / "sub")], capsys, monkeypatch)
    assert result.code == 1
    assert "cannot write" in result.flat and "--out" in result.flat
    assert "Traceback" not in result.text


def test_the_wheel_carries_the_module() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"dolibarr_module/**/*"' in pyproject
    # every file of the source folder is found through the package (what the wheel installs)
    source = REPO / "src" / "dolirelance" / "dolibarr_module" / "dolirelance"
    on_disk = sorted(str(p.relative_to(source.parent)) for p in source.rglob("*") if p.is_file())
    assert on_disk == [path for path, _ in module_files()]


# --------------------------------------------------------------------------- what the PHP says


def test_every_translation_key_is_in_both_languages() -> None:
    php_text = "\n".join(source.read_text(encoding="utf-8") for path, source in module_files() if path.endswith(".php"))
    used = set(re.findall(r"trans(?:noentities)?\('((?:Dolirelance|BoxDolirelance|ModuleDolirelance)\w*)'", php_text))
    used |= set(re.findall(r"'((?:Dolirelance|BoxDolirelance)\w+)'", php_text))  # menus, box label, buttons
    used |= set(re.findall(r":((?:Dolirelance)\w+):dolirelance@dolirelance", php_text))  # tab titles
    assert {"DolirelanceTabQuote", "DolirelanceTabCustomer", "BoxDolirelanceTodo", "DolirelanceMenuList"} <= used
    for lang in ("fr_FR", "en_US"):
        keys = set(re.findall(r"^(\w+)\s*=", _module_text(f"langs/{lang}/dolirelance.lang"), re.MULTILINE))
        assert used - keys == set(), lang
    french = _module_text("langs/fr_FR/dolirelance.lang")
    for words in ("DolirelanceTabQuote = Relances\n", "DolirelanceTabCustomer = Relances devis\n",
                  "BoxDolirelanceTodo = Suivi relances devis\n", "Lire les relances de devis",
                  "Créer des relances de devis", "Relance massive", "Nouvelle relance", "À relancer", "Efficacité"):
        assert words in french


def test_the_rights_are_the_ones_the_sidecar_reads() -> None:
    descriptor = _module_text("core/modules/modDolirelance.class.php")
    assert "$this->rights_class = 'dolirelance';" in descriptor
    declared = re.findall(r"\$this->rights\[\d\]\[4\] = '(\w+)';", descriptor)
    assert {f"dolirelance.{name}" for name in declared} == {MODULE_READ_RIGHT, MODULE_WRITE_RIGHT}
    number = re.search(r"\$this->numero = (\d+);", descriptor)
    assert number and 500000 <= int(number.group(1)) < 600000  # the external modules' range
    for lang in ("fr_FR", "en_US"):
        text = _module_text(f"langs/{lang}/dolirelance.lang")
        assert f"Permission{number.group(1)}01 =" in text and f"Permission{number.group(1)}02 =" in text
    assert "'enabledbydefaulton' => 'Home'" in descriptor
    assert "propal:+relances:" in descriptor and "thirdparty:+relancesdevis:" in descriptor


def test_no_sql_on_tables_that_are_not_dolibarrs() -> None:
    for path, source in module_files():
        if path.endswith(".php"):
            tables = set(re.findall(r"MAIN_DB_PREFIX\s*\.\s*[\"'](\w+)", source.read_text(encoding="utf-8")))
            assert tables <= {"propal", "societe_commerciaux"}, path


def test_every_php_file_is_valid(php: str, built: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        archive.extractall(tmp_path / "unpacked")
    files = sorted((tmp_path / "unpacked").rglob("*.php")) + sorted(PHP_TESTS.rglob("*.php"))
    assert len(files) >= 15
    for path in files:
        done = subprocess.run([php, "-l", str(path)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{path}: {done.stdout}{done.stderr}"


# A stand-in for Dolibarr's main.inc.php: it makes the globals the pages use, as the real one does.
_STAND_IN_MAIN = "<?php\n$db = 'the database of ' . __DIR__;\n$user = 'a signed-in user';\nreturn 1;\n"
# A page as the module's pages start: the loader first, then Dolibarr's globals at the top level.
_PROBE_PAGE = "<?php\nrequire __DIR__.'/{up}lib/main_loader.inc.php';\necho $db, ' / ', $user;\n"


@pytest.mark.parametrize("place", ["htdocs/custom/dolirelance", "htdocs/dolirelance"])
def test_the_pages_load_dolibarr_wherever_the_module_lives(php: str, built: Path, tmp_path: Path, place: str) -> None:
    """Every page starts with lib/main_loader.inc.php; it finds main.inc.php with the module in custom/ or in
    htdocs/, from the module's folder or admin/, whatever folder PHP runs in, and leaves the globals global."""
    htdocs = tmp_path / "htdocs"
    htdocs.mkdir()
    (htdocs / "main.inc.php").write_text(_STAND_IN_MAIN, encoding="utf-8")
    with zipfile.ZipFile(built) as archive:
        archive.extractall(tmp_path / place / "..")
    module = tmp_path / place
    (module / "probe.php").write_text(_PROBE_PAGE.format(up=""), encoding="utf-8")
    (module / "admin" / "probe.php").write_text(_PROBE_PAGE.format(up="../"), encoding="utf-8")
    for page in (module / "probe.php", module / "admin" / "probe.php"):
        for folder in (page.parent, tmp_path):
            done = subprocess.run([php, str(page)], capture_output=True, text=True, check=False, cwd=folder)
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout == f"the database of {htdocs} / a signed-in user", (page, folder)
    for page in ("go.php", "propal_relances.php", "societe_relances.php", "relances_list.php", "admin/setup.php"):
        text = (module / page).read_text(encoding="utf-8")
        assert "main_loader.inc.php';" in text and "main.inc.php'" not in text, page


def test_a_module_outside_dolibarr_says_so(php: str, built: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        archive.extractall(tmp_path / "nowhere")
    page = tmp_path / "nowhere" / "dolirelance" / "probe.php"
    page.write_text(_PROBE_PAGE.format(up=""), encoding="utf-8")
    done = subprocess.run([php, str(page)], capture_output=True, text=True, check=False, cwd=page.parent)
    assert done.stdout == "Include of main fails"


def test_the_modules_phpunit_tests_pass(php: str) -> None:
    phpunit = _tool("phpunit")
    done = subprocess.run([phpunit, "-c", str(PHP_TESTS / "phpunit.xml")], capture_output=True, text=True,
                          check=False, cwd=PHP_TESTS)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ran = re.search(r"OK \((\d+) tests?", done.stdout)
    assert ran and int(ran.group(1)) >= 10, done.stdout


# --------------------------------------------------------------------------- one contract, both sides


async def test_the_tab_reads_what_the_python_side_writes(
    php: str, runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    await follow_up(runtime, ref, channel=Channel.EMAIL, note="Appel sans réponse")
    await follow_up(runtime, ref, channel=Channel.LETTER, note="Par courrier « recommandé »", force=True,
                    letter_out=tmp_path / "letters")  # fmt: skip
    events = [e for e in fake_dolibarr.events.values() if e.code.startswith("AC_RELANCE")]
    rows = [
        {"id": e.id, "code": e.code, "datep": e.datep, "percentage": e.percentage, "note": e.note,
         "quote_id": e.fk_element if e.elementtype == "propal" else 0, "socid": e.socid or 0,
         "owner_id": e.userownerid or 0, "email_to": e.email_to or ""}
        for e in events
    ]  # fmt: skip
    done = subprocess.run([php, str(PHP_TESTS / "table_from_json.php")], input=json.dumps(rows),
                          capture_output=True, text=True, check=True)  # fmt: skip
    table = json.loads(done.stdout)

    # what the Python reader makes of the same events, read back through the API
    read_back = await runtime.dolibarr.list_events(EventFilter(code_prefix="AC_RELANCE"))
    records = {r.event_id: r for r in (record_of(e) for e in read_back) if r is not None}
    assert [row["kind"] for row in table] == ["followup", "followup"]
    letter, email = table
    assert (letter["channel"], email["channel"]) == ("letter", "email")
    for row in table:
        record = records[row["event_id"]]
        assert row["quote_id"] == record.quote_id == quote_id
        assert row["model"] == record.model and row["model"]
        assert row["level"] == record.level
        assert row["key"] == record.key
        assert row["note"] == record.note
        assert row["owner_id"] == record.owner_id == sample_data.users["jdupont"]
    assert letter["file"] == records[letter["event_id"]].file_name and letter["file"].endswith(".pdf")
    assert email["recipients"] == records[email["event_id"]].recipients
    assert email["next_from"] == "facts" and email["next_date"] == records[email["event_id"]].next_date.isoformat()
    [open_todo] = [e for e in events if e.code == "AC_RELANCE_TODO" and e.percentage < 100]
    assert letter["next_from"] == "todo" and letter["next_time"] == open_todo.datep
    assert letter["todo_id"] == open_todo.id


async def test_a_token_the_php_module_signs_signs_the_user_in(
    php: str, tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DolirelanceToken::sign (random nonce and IV, as go.php calls it) → POST /login/dolibarr → signed in."""
    secret = "a-secret-made-by-the-setup-page-0123456789abcdef"
    monkeypatch.setenv("DOLIRELANCE_TEST_SSO_SECRET", secret)
    base = web_settings(tmp_path, dolibarr_url=FAKE_URL, smtp_port=1)
    settings = base.model_copy(update={"web": base.web.model_copy(
        update={"dolibarr_sso_secret_env": "DOLIRELANCE_TEST_SSO_SECRET"})})  # fmt: skip
    quote_id = sample_data.quotes["about_to_expire"]
    script = (
        f"require '{MODULE_CLASSES}/DolirelanceToken.php';"
        "echo json_encode(DolirelanceToken::sign(getenv('SECRET'), 'jdupont', (int) getenv('QUOTE'), 'letter',"
        " getenv('API_KEY'), (int) getenv('NOW')));"
    )
    env = {**os.environ, "SECRET": secret, "QUOTE": str(quote_id), "API_KEY": sample_data.api_keys["jdupont"],
           "NOW": str(int(SAMPLE_NOW.timestamp()))}  # fmt: skip
    signed = json.loads(subprocess.run([php, "-r", script], capture_output=True, text=True, check=True,
                                       env=env).stdout)  # fmt: skip
    assert sample_data.api_keys["jdupont"] not in json.dumps(signed)
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                         now=lambda: SAMPLE_NOW)  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as client:
        arrived = await client.post("/login/dolibarr", data=signed)
        assert arrived.status_code == 303
        assert arrived.headers["location"] == f"/quotes/{quote_id}/followup?channel=letter"
        page = await client.get(arrived.headers["location"])
        assert page.status_code == 200 and "Julie Dupont" in page.text
        assert (await client.post("/login/dolibarr", data=signed)).status_code == 401  # once only
