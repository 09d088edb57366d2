"""Entry point of the ``alianza`` command."""

from __future__ import annotations

import typer

from alianza.cli import (
    admin,
    audit,
    commitment,
    demo,
    federation,
    importing,
    indicator,
    matching,
    meeting,
    node,
    policy,
    records,
    release,
    report,
    screening,
)

app = typer.Typer(
    name="alianza",
    help="Alianza: the software of the US–Mexico security-cooperation mechanism.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("init")(node.init)
app.command("serve")(node.serve)
app.command("import")(importing.import_)
app.command("report")(report.report)
app.command("vocab")(admin.vocab)
app.add_typer(commitment.app, name="commitment")
app.add_typer(meeting.app, name="meeting")
app.add_typer(indicator.app, name="indicator")
app.add_typer(demo.app, name="demo")
app.add_typer(admin.users, name="user")
app.add_typer(admin.tokens, name="token")
app.add_typer(records.app, name="record")
app.add_typer(release.app, name="release")
app.add_typer(release.requests_app, name="request")
app.add_typer(audit.app, name="audit")
app.add_typer(policy.app, name="policy")
app.add_typer(federation.keys, name="keys")
app.add_typer(federation.partner_app, name="partner")
app.add_typer(federation.federation, name="federation")
app.add_typer(matching.app, name="match")
app.add_typer(screening.lists_app, name="lists")
app.add_typer(screening.screen_app, name="screen")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
