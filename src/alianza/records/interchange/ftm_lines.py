"""FtM JSON lines: the exchange format of OCCRP Aleph, OpenSanctions and ``followthemoney`` itself.

One entity per line, as ``followthemoney`` writes it (``{"id", "schema", "properties"}``), so FtM tools read our
exports and we read theirs. Our markings travel beside the entity under ``"alianza:markings"``: FtM ignores keys it
does not know, and keeping them out of ``properties`` means an FtM consumer never mistakes a handling code for a
fact about the person. Entities without markings take the import's default markings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.audit.trail import AuditTrail
from alianza.records.interchange.common import (
    EMPTY_FILE,
    ImportSummary,
    Pending,
    Problems,
    build_input,
    create_all,
    finish,
    merge_markings,
)
from alianza.records.models import Record
from alianza.records.schemas import Markings
from alianza.records.service import to_ftm

MARKINGS_KEY = "alianza:markings"
SOURCE = "FtM"

NOT_JSON = "Not valid JSON: {error} (column {column})."
NOT_ENTITY = "Each line must be one JSON object: an FtM entity with 'schema' and 'properties'."
BAD_MARKINGS = "'alianza:markings' must be a JSON object."


def export_ftm(records: Iterable[Record]) -> Iterator[str]:
    """Each record as one line of JSON, newline included, so ``"".join(...)`` or ``writelines`` gives the file.

    Purged records are left out: their content is gone, and an entity without properties helps nobody.
    Keys are sorted and non-ASCII text is written as is, so two exports of the same records are identical.
    """
    for record in records:
        if record.purged:
            continue
        yield json.dumps(to_ftm(record), ensure_ascii=False, sort_keys=True) + "\n"


def import_ftm(
    session: Session,
    actor: User,
    trail: AuditTrail,
    country: str,
    text: str,
    default_markings: Markings | None = None,
) -> ImportSummary:
    """Create a record from every line, or none: a ``ValidationError`` lists each bad line and its problems.

    Run it inside ``node.db.transaction()``: on error the transaction rolls back the lines that had succeeded.
    Lines may come in any order; entities that others link to are created first.
    """
    require(actor, Permission.EDIT_RECORDS)
    problems = Problems()
    pending: list[Pending] = []
    # split("\n"), not splitlines(): JSON text may hold U+2028 and other characters splitlines() breaks on.
    for number, line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        if not line.strip():
            continue
        entry = _parse_line(number, line, default_markings, problems)
        if entry is not None:
            pending.append(entry)
    if not pending and not problems:
        problems.add({"line": 1}, None, EMPTY_FILE)
    created = create_all(session, actor, trail, country, pending, problems)
    return finish(session, actor, trail, SOURCE, created, problems, ImportSummary())


def _parse_line(number: int, line: str, defaults: Markings | None, problems: Problems) -> Pending | None:
    where: dict[str, int | str] = {"line": number}
    try:
        entity: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        problems.add(where, None, NOT_JSON, error=exc.msg, column=exc.colno)
        return None
    if not isinstance(entity, dict):
        problems.add(where, None, NOT_ENTITY)
        return None
    own = entity.get(MARKINGS_KEY)
    if own is not None and not isinstance(own, dict):
        problems.add(where, MARKINGS_KEY, BAD_MARKINGS)
        return None
    return build_input(
        where,
        problems,
        schema=entity.get("schema"),
        properties=entity.get("properties"),
        markings=merge_markings(own, defaults),
        record_id=entity.get("id"),
    )
