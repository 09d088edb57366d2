"""``alianza policy test|show``: check the legal frameworks against their decision tables, and list their rules.

``test`` is what an operator runs after editing a ``.cedar`` file and what CI runs on every change: one
line per case, a summary, exit 1 when a case fails and 2 when a table or policy file is malformed.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from alianza.cli.common import JsonOption, handles_errors
from alianza.i18n import Lang, gettext_for, normalise_lang
from alianza.policy.decision import N_
from alianza.policy.decision_table import SHIPPED_TABLES, load_table, run_table
from alianza.policy.frameworks import KINDS, Rule, load_framework

app = typer.Typer(help="The legal frameworks: test them against their decision tables, list their rules.",
                  no_args_is_help=True)  # fmt: skip

KIND_LABELS = {
    "deny": N_("Rules that deny the release"),
    "review": N_("Rules that require a reviewer's finding"),
    "permit": N_("Legal grounds that allow the release"),
    "obligation": N_("Obligations attached to a release"),
    "redaction": N_("Fields removed before release"),
}
LangOption = typer.Option("en", "--lang", help="Language of the output: en or es")


@app.command("test")
@handles_errors
def test(
    files: list[Path] | None = typer.Argument(None, help="Decision tables (default: the shipped us.yaml and mx.yaml)"),
    lang: str = LangOption,
) -> None:
    """Run decision tables against the frameworks; exit 1 if any case fails."""
    language = _lang(lang)
    _ = gettext_for(language)
    tables = [load_table(path) for path in (files or list(SHIPPED_TABLES))]  # all malformed input first
    passed = failed = 0
    for table in tables:
        result = run_table(table)
        typer.echo(_("{file} ({framework} framework)").format(file=table.path, framework=table.framework))
        for case in result.results:
            if case.passed:
                typer.echo(f"  {_('PASS')}  {case.case.name}")
                continue
            typer.echo(f"  {_('FAIL')}  {case.case.name} " + _("(line {line})").format(line=case.case.line))
            for message in case.messages(language):
                typer.echo(f"        {message}")
        if result.uncovered:
            typer.echo("  " + _("Rules no case expects: {rules}").format(rules=", ".join(result.uncovered)))
        passed += result.passed
        failed += result.failed
    typer.echo(_("{passed} passed, {failed} failed").format(passed=passed, failed=failed))
    if failed:
        raise typer.Exit(1)


@app.command("show")
@handles_errors
def show(
    country: str | None = typer.Option(None, "--country", help="US or MX (default: both)"),
    lang: str = LangOption,
    as_json: bool = JsonOption,
) -> None:
    """List each framework's rules with their reasons, grouped by what they do."""
    language = _lang(lang)
    _ = gettext_for(language)
    countries = [country.upper()] if country else ["US", "MX"]
    frameworks = [load_framework(c) for c in countries]
    if as_json:
        rows = [_row(fw.country, rule, language) for fw in frameworks for rule in fw.rules]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for fw in frameworks:
        typer.echo(_("{country} framework: {count} rules").format(country=fw.country, count=len(fw.rules)))
        for kind in KINDS:
            rules = fw.rules_of(kind)
            if not rules:
                continue
            typer.echo(f"\n  {_(KIND_LABELS[kind])}")
            for rule in rules:
                typer.echo(f"  {rule.id}  [{rule.cite}]  {rule.file}:{rule.line}")
                typer.echo(f"      {rule.reason(language)}")
                if rule.redact:
                    typer.echo("      " + _("Removes: {fields}").format(fields=", ".join(rule.redact)))
                if rule.due_days is not None:
                    typer.echo("      " + _("Due within {days} days.").format(days=rule.due_days))
        typer.echo("")


def _row(country: str, rule: Rule, lang: Lang) -> dict[str, object]:
    return {
        "framework": country,
        "id": rule.id,
        "kind": rule.kind,
        "effect": rule.effect,
        "action": rule.action,
        "reason": rule.reason(lang),
        "reason_en": rule.reason_en,
        "reason_es": rule.reason_es,
        "cite": rule.cite,
        "file": rule.file,
        "line": rule.line,
        "redact": list(rule.redact),
        "obligation": rule.obligation,
        "due_days": rule.due_days,
    }


def _lang(value: str) -> Lang:
    return normalise_lang(value)
