"""``alianza keys show|rotate``, ``alianza partner add|list|key``, ``alianza federation deliver|pull|checkpoint``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import typer

from alianza.cli.common import ConfigOption, JsonOption, UserOption, acting_user, emit, handles_errors, node_from
from alianza.federation import delivery, outbox, partners, pull
from alianza.federation.checkpoints import own_head
from alianza.identity import public_key_text, rotate

keys = typer.Typer(help="The node's identity keys.", no_args_is_help=True)
partner_app = typer.Typer(help="Partner nodes.", no_args_is_help=True)
federation = typer.Typer(help="Delivery to and from partners.", no_args_is_help=True)


@keys.command("show")
@handles_errors
def keys_show(as_json: bool = JsonOption, config: Path | None = ConfigOption) -> None:
    """Print the node's public keys, to give to the partner's operator (out of band)."""
    with node_from(config) as node:
        info = {
            "node": node.settings.federation_id,
            "country": node.settings.country,
            "key": public_key_text(node.identity.public_key),
            "key_id": node.identity.key_id,
            "seal_key": node.identity.seal_public_text,
        }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for name, value in info.items():
        typer.echo(f"{name}: {value}")
    typer.echo(
        f"\nPartner command: alianza partner add {info['node']} --url URL --country {info['country']} "
        f"--key {info['key']} --seal-key {info['seal_key']}"
    )


@keys.command("rotate")
@handles_errors
def keys_rotate(
    overlap_days: int = typer.Option(7, "--overlap-days", help="How long partners keep accepting the old key"),
    config: Path | None = ConfigOption,
) -> None:
    """Make a new signing key and announce it to every partner, signed with the old key."""
    with node_from(config) as node:
        old_id = node.identity.key_id
        identity, _old = rotate(node.settings.data_dir)
        with node.db.transaction() as session:
            for partner in partners.list_partners(session):
                # The courier signs this announcement, and everything queued before it, with the old key,
                # which the partner still trusts; what follows it is signed with the new one.
                outbox.enqueue(
                    session,
                    partner.name,
                    "key_rotation",
                    identity.key_id,
                    {"key": public_key_text(identity.public_key), "overlap_days": overlap_days, "signed_with": old_id},
                )
            node.trail.append(
                session,
                "admin",
                "node.key_rotated",
                "node",
                node.settings.federation_id,
                {"new_key_id": identity.key_id, "overlap_days": overlap_days},
            )
    typer.echo(f"New key {identity.key_id}; partners are told, and accept the old key for {overlap_days} days.")


@partner_app.command("add")
@handles_errors
def partner_add(
    name: str,
    url: str = typer.Option(..., "--url"),
    key: str = typer.Option(..., "--key", help="The partner's Ed25519 public key (from its 'alianza keys show')"),
    country: str = typer.Option(..., "--country"),
    seal_key: str = typer.Option("", "--seal-key", help="The partner's X25519 key: payloads are sealed to it"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Pin a partner node: only envelopes signed by its key are accepted."""
    with node_from(config) as node, node.db.transaction() as session:
        actor = acting_user(session, user)
        partner = partners.add_partner(
            session, actor, name=name, url=url, key=key, country=country.upper(), seal_key=seal_key
        )
        node.trail.append(session, actor, "partner.added", "partner", partner.name, {"url": partner.url})
    typer.echo(f"Partner {name} pinned.")


@partner_app.command("key")
@handles_errors
def partner_key(
    name: str,
    key: str = typer.Option(..., "--key"),
    overlap_days: int = typer.Option(7, "--overlap-days"),
    config: Path | None = ConfigOption,
) -> None:
    """Pin a new key of a partner by hand (its old keys expire after the overlap)."""
    with node_from(config) as node, node.db.transaction() as session:
        partners.add_key(
            session, partners.get_partner(session, name), key, retire_others_after=dt.timedelta(days=overlap_days)
        )
    typer.echo(f"Key pinned for {name}.")


@partner_app.command("list")
@handles_errors
def partner_list(as_json: bool = JsonOption, config: Path | None = ConfigOption) -> None:
    """Partners with last contact, queue depth and failures."""
    with node_from(config) as node, node.db.reading() as session:
        rows = []
        for p in partners.list_partners(session):
            rows.append(
                {
                    "name": p.name,
                    "url": p.url,
                    "country": p.country,
                    "last_contact": p.last_contact.isoformat(timespec="seconds") if p.last_contact else "",
                    "queued": len(outbox.pending(session, p.name)),
                    "failures": p.failures,
                    "in": p.inbound_seq,
                    "out": p.outbound_seq,
                    "last_error": p.last_error,
                }
            )
    emit(rows, ["name", "country", "url", "last_contact", "queued", "failures", "in", "out", "last_error"], as_json)


@federation.command("deliver")
@handles_errors
def deliver(
    partner: str | None = typer.Option(None, "--partner"),
    config: Path | None = ConfigOption,
) -> None:
    """Push what is queued now (the server's courier does this continuously)."""
    with node_from(config) as node, httpx.Client(timeout=30) as client:
        with node.db.reading() as session:
            names = [partner] if partner else [p.name for p in partners.list_partners(session)]
        for name in names:
            total = 0
            while True:
                outcome = delivery.deliver_batch(node, name, client)
                total += outcome.delivered
                if outcome.error or not outcome.delivered:
                    break
            typer.echo(f"{name}: {total} delivered" + (f"; {outcome.error}" if outcome.error else ""))


@federation.command("retry")
@handles_errors
def retry(
    partner: str = typer.Option(..., "--partner"),
    config: Path | None = ConfigOption,
) -> None:
    """Requeue messages the partner refused, once the cause is fixed."""
    with node_from(config) as node:
        count = delivery.retry_failed(node, partner)
    typer.echo(f"{partner}: {count} message(s) requeued.")


@federation.command("pull")
@handles_errors
def pull_cmd(
    partner: str = typer.Option(..., "--partner"),
    config: Path | None = ConfigOption,
) -> None:
    """Fetch and apply what the partner has queued for this node."""
    with node_from(config) as node, httpx.Client(timeout=30) as client:
        cursor = None
        total = 0
        while True:
            applied, cursor = pull.pull_from(node, partner, client, cursor)
            total += applied
            if not applied:
                break
    typer.echo(f"{partner}: {total} applied.")


@federation.command("checkpoint")
@handles_errors
def checkpoint(config: Path | None = ConfigOption) -> None:
    """Send our audit head to every partner (the server sends one after every delivery)."""
    with node_from(config) as node, node.db.transaction() as session:
        head = own_head(session)
        for p in partners.list_partners(session):
            outbox.enqueue(session, p.name, "audit_checkpoint", head["seq"], head)
    typer.echo(f"Checkpoint {head['seq']} queued.")
