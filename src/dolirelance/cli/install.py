"""Setting up: a starter configuration (`init`), `config check`, `doctor`, `setup`, the Dolibarr module's zip."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, load_settings, run_coroutine, state
from dolirelance.errors import ConfigError, DolirelanceError
from dolirelance.terminal import text


def config_check(config: ConfigOption = None) -> None:
    """Validate the file; render every model for each kind of addressee, before and after the end of validity."""
    from dolirelance.clock import system_clock
    from dolirelance.config import REPLY_TO_REMEDY, find_config_path, load_config, secret_problems
    from dolirelance.errors import MailError
    from dolirelance.mail import dkim_signer
    from dolirelance.render import ADDRESSEE_KINDS, Renderer, sample_contexts

    path = find_config_path(config or state.config_path)
    settings = load_config(path)
    secrets = secret_problems(settings, str(path))  # unset *_env variables are configuration errors too
    if secrets:
        raise ConfigError(secrets, remedy="export the variables named by *_env, or set the keys in the file")
    renderer = Renderer(settings)
    contexts = sample_contexts(system_clock().astimezone(ZoneInfo(settings.auto.timezone)).date())
    found: dict[str, tuple[DolirelanceError, list[str]]] = {}
    for label, ctx in contexts:
        for problem in renderer.check(ctx):
            found.setdefault(problem.message, (problem, []))[1].append(label)
    key_file = settings.smtp.dkim_key_file
    signer = dkim_signer(settings.smtp, settings.resolve_path(key_file)) if key_file else None
    if signer is not None:
        try:
            signer.check()
        except MailError as exc:
            found[exc.message] = (exc, [label for label, _ in contexts])
    if found:
        console.err.print(f"[red]error:[/] {text(path)}: {len(found)} template problem(s):")
        for message, (cause, labels) in found.items():
            only = "" if len(labels) == len(contexts) else f" (writing to {'; '.join(labels)})"
            console.err.print(f"  {text(message)}{text(only)}")
            if cause.remedy:
                console.err.print(f"    → {text(cause.remedy)}")
        raise typer.Exit(2)
    from dolirelance.starter import example_values_left

    if settings.company is None:
        console.err.print(
            "[yellow]warning:[/] no \\[company] table: letters and e-mails take the company from Dolibarr"
        )
        console.err.print(
            "  → fill \\[company] unless the API user is admin (only an admin may read it); `doctor` checks"
        )
    for key, value in example_values_left(settings):  # a warning: the file itself is valid
        console.err.print(f"[yellow]warning:[/] {text(key)} is still the example {text(value)!r}")
        console.err.print(
            f"  → {text('set your own in ' + str(path) + ' (then `dolirelance doctor` checks it works)')}"
        )
    variants = sum(len(model.variants) for model in settings.models)
    console.out.print(
        f"[green]ok[/] {text(path)}: {len(settings.models)} model(s), {variants} language variant(s), "
        f"{len(settings.auto.steps)} automatic step(s) (auto {'enabled' if settings.auto.enabled else 'disabled'}); "
        f"every text rendered for {len(ADDRESSEE_KINDS)} kinds of addressee, before and after the end of validity"
    )
    for warning in settings.reply_problems():  # a warning: sending works, replies are not read
        console.err.print(f"[yellow]warning:[/] {text(warning)}")
        console.err.print(f"  → {text(REPLY_TO_REMEDY)}")


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to write into (created if missing).")] = Path("."),
    dolibarr_url: Annotated[
        str | None, typer.Option("--dolibarr-url", help="Dolibarr API URL (https://erp.example.fr/api/index.php).")
    ] = None,
    smtp_host: Annotated[str | None, typer.Option("--smtp-host", help="SMTP server name.")] = None,
    sender: Annotated[str | None, typer.Option(help="From address, e.g. 'Name <devis@example.fr>'.")] = None,
) -> None:
    """Write a commented dolirelance.toml and the default models into DIRECTORY; never overwrites."""
    from dolirelance.starter import CONFIG_NAME, StarterAnswers, refuse_to_overwrite, write_starter_files

    refuse_to_overwrite(directory)  # before asking anything
    answers = StarterAnswers(dolibarr_url=dolibarr_url, smtp_host=smtp_host, sender=sender)
    if sys.stdin.isatty() and sys.stdout.isatty():  # asks only a person at a terminal
        # no made-up defaults: the examples are in the prompts, the answers are the person's own
        answers = StarterAnswers(
            dolibarr_url=dolibarr_url
            or typer.prompt("Dolibarr API URL (like https://erp.your-company.fr/api/index.php)"),
            smtp_host=smtp_host or typer.prompt("SMTP server (like smtp.your-company.fr)"),
            sender=sender or typer.prompt("Sender, the From of the e-mails (like Company <quotes@company.fr>)"),
        )
    written = write_starter_files(directory, answers)
    for path in written:
        console.out.print(f"wrote {text(path)}")
    config = directory / CONFIG_NAME
    console.out.print(
        text("next: edit it ([company], models, [auto]), set DOLIRELANCE_API_KEY and DOLIRELANCE_SMTP_PASSWORD,")
        + f" then `dolirelance --config {text(config)} config check` and `doctor`"
    )


def doctor(config: ConfigOption = None) -> None:
    """Check Dolibarr (version, API user, rights, opt-out extrafield) and SMTP, with a remedy for each failure."""
    from dolirelance.service.checks import run_doctor

    settings = load_settings(config)
    checks = run_coroutine(run_doctor(settings))
    failed = 0
    for check in checks:
        mark = "[green]✔[/]" if check.ok else ("[yellow]![/]" if check.warning else "[red]✘[/]")
        console.out.print(f"{mark} {text(check.name)}: {text(check.detail)}")
        if not check.ok and check.remedy:
            console.out.print(f"    → {text(check.remedy)}")
        failed += 0 if check.ok or check.warning else 1
    if failed:
        raise typer.Exit(1)


def setup(config: ConfigOption = None) -> None:
    """Create the opt-out extrafield on proposals if missing (needs an admin API key); check the \\[access] groups."""
    from dolirelance.service.checks import check_access_groups, ensure_opt_out_field

    settings = load_settings(config)
    message = run_coroutine(ensure_opt_out_field(settings))
    console.out.print(text(message))
    for line in run_coroutine(check_access_groups(settings)):
        console.out.print(text(line))


def dolibarr_module(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the zip into.")] = Path("."),
) -> None:
    """Write the Dolibarr module (tabs « Relances », home box, menu, rights) as a zip to install in Dolibarr."""
    from dolirelance import __version__
    from dolirelance.dolibarr_module_zip import build_module_zip

    path = build_module_zip(out_dir, __version__)
    console.out.print(f"wrote {path}", markup=False, highlight=False)
    console.out.print(
        "install it in Dolibarr: Home > Setup > Modules > « Déployer un module externe » (Deploy/install external "
        "module), or unzip it into htdocs/custom/; then enable « Relances devis (dolirelance) »",
        markup=False,
        highlight=False,
    )
