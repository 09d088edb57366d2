"""What the three import formats share: problems collected per line or object, and the all-or-nothing write.

Every format turns its input into ``RecordInput`` values first and then creates them through
``records.service.create_record``, so an imported record passes exactly the validation and the ingest rules of a
record typed in by hand, and each one is audited the same way. Nothing is written until every entry has been
tried: the problems of all entries are reported together in one ``ValidationError`` and the caller's transaction
(``node.db.transaction()``) rolls back whatever the good entries had added.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.audit.trail import AuditTrail
from alianza.errors import AlianzaError, ValidationError
from alianza.records.ftm import model
from alianza.records.models import Record
from alianza.records.schemas import Markings, RecordInput
from alianza.records.service import create_record

# A file with thousands of bad lines should not produce an error payload of megabytes; the count says how many.
MAX_PROBLEMS = 200
# Keys of ``alianza:markings`` that describe where a record lives, not how it is marked; ``Markings`` has no such
# fields, and on import the record is this node's (partner records arrive through federation, not files).
PROVENANCE_KEYS = frozenset({"origin_country", "partner"})

IMPORT_REFUSED = (
    "The {source} import was refused: {count} problem(s) listed below; nothing was imported. "
    "Fix them and import the whole file again."
)
NO_MARKINGS = "No markings: the entry carries none and no default markings were given for the import."
DUPLICATE_ID = "The id '{id}' is used by more than one entry of this file."
BROKEN_DEPENDENCY = "It refers to '{id}', which could not be imported (see its own problem)."
CIRCULAR = "Circular references between entries of this file: {ids}."
EMPTY_FILE = "The file holds nothing to import."
NOT_PROPERTIES = "'properties' must be a mapping of property names to lists of values."

Where = dict[str, int | str]
"""Where a problem is: ``{"line": 3}`` for line-based files, ``{"object": "identity--…"}`` for STIX objects."""


@dataclass
class ImportSummary:
    """What an import did: records created (their ids, in creation order) and what it left out, by type."""

    created: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


def detail(where: Where, field_name: str | None, template: str, **params: Any) -> dict[str, Any]:
    """One problem, filled in English and kept as template + params so the web layer can show it in Spanish."""
    return {**where, "field": field_name, "message": _fill(template, params), "template": template, "params": params}


def _fill(template: str, params: Mapping[str, Any]) -> str:
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


class Problems:
    """Every problem of an import, each tied to its line or object, so the whole file can be fixed in one go."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0
        # Ids of entries refused before creation, so entries linking to them say why instead of "no such record".
        self.failed_ids: set[str] = set()

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, where: Where, field_name: str | None, template: str, **params: Any) -> None:
        self._store(detail(where, field_name, template, **params))

    def _store(self, item: dict[str, Any]) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(item)

    def from_pydantic(
        self, where: Where, exc: PydanticValidationError, labels: Mapping[str, str] | None = None
    ) -> None:
        """Pydantic's own English messages; they have no template in our catalogs."""
        for err in exc.errors():
            loc = ".".join(str(part) for part in err.get("loc", ()))
            self._store({**where, "field": _label(loc, labels), "message": str(err.get("msg", "invalid"))})

    def from_error(self, where: Where, exc: AlianzaError, labels: Mapping[str, str] | None = None) -> None:
        """The problems of a refused ``create_record``, moved to this entry's line or object."""
        if not (isinstance(exc.details, list) and exc.details):
            self._store(
                {**where, "field": None, "message": exc.render(), "template": exc.template, "params": exc.params}
            )
            return
        for item in exc.details:
            moved = {k: v for k, v in item.items() if k in ("message", "template", "params")}
            self._store({**where, "field": _label(item.get("field"), labels), "message": "", **moved})

    def raise_if_any(self, source: str) -> None:
        if self.total:
            raise ValidationError(IMPORT_REFUSED, details=self.items, source=source, count=self.total)


def _label(field_name: str | None, labels: Mapping[str, str] | None) -> str | None:
    """The name the user knows a field by (a CSV column rather than an FtM property), when there is one."""
    if field_name is None or not labels:
        return field_name
    return labels.get(field_name, field_name)


@dataclass
class Pending:
    """An entry that parsed into a ``RecordInput`` and waits to be created."""

    where: Where
    data: RecordInput
    labels: Mapping[str, str] | None = None


def as_property_values(raw: Any) -> dict[str, list[str]] | None:
    """FtM properties as ``{name: [text, ...]}``; numbers written by hand become text, anything else is refused.

    Returns None when ``raw`` is not a mapping, so the caller can say so for its line or object.
    """
    if not isinstance(raw, Mapping):
        return None
    out: dict[str, list[str]] = {}
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        out[str(name)] = [_as_text(v) for v in values if v is not None]
    return out


def _as_text(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    # A nested entity or a boolean is not an FtM value; keep it visible so clean_properties reports it.
    return repr(value)


def merge_markings(own: Mapping[str, Any] | None, defaults: Markings | None) -> dict[str, Any] | None:
    """The entry's own markings over the import's defaults; None when there are neither."""
    if own is None and defaults is None:
        return None
    merged: dict[str, Any] = defaults.model_dump(mode="json") if defaults is not None else {}
    if own is not None:
        merged.update({k: v for k, v in own.items() if k not in PROVENANCE_KEYS})
    return merged


def build_input(
    where: Where,
    problems: Problems,
    *,
    schema: Any,
    properties: Any,
    markings: dict[str, Any] | None,
    record_id: Any = None,
    labels: Mapping[str, str] | None = None,
) -> Pending | None:
    """One entry as a ``Pending`` record, or None after reporting why it cannot be one."""
    values = as_property_values(properties if properties is not None else {})
    if values is None or markings is None:
        if values is None:
            problems.add(where, "properties", NOT_PROPERTIES)
        else:
            problems.add(where, "markings", NO_MARKINGS)
        if isinstance(record_id, str) and record_id:
            problems.failed_ids.add(record_id)
        return None
    payload: dict[str, Any] = {"schema": schema, "properties": values, "markings": markings}
    if record_id is not None and record_id != "":
        payload["id"] = record_id
    try:
        data = RecordInput.model_validate(payload)
    except PydanticValidationError as exc:
        problems.from_pydantic(where, exc, labels)
        if isinstance(record_id, str) and record_id:
            problems.failed_ids.add(record_id)
        return None
    return Pending(where, data, labels)


def _references(data: RecordInput) -> set[str]:
    """Ids this entry links to through FtM entity properties (owner, asset, holder, subject...)."""
    schema = model().get(data.schema_)
    if schema is None:
        return set()
    refs: set[str] = set()
    for name, raw in data.properties.items():
        prop = schema.get(name)
        if prop is not None and prop.type.name == "entity":
            values = [raw] if isinstance(raw, str) else raw
            refs.update(v.strip() for v in values if v.strip())
    return refs


def _creation_order(pending: Sequence[Pending], ids: Mapping[str, int], problems: Problems) -> list[int]:
    """Indexes of ``pending`` so that each entry comes after the entries it links to, file order otherwise.

    Files list entities in any order (FtM exports often put edges first), and ``create_record`` needs a linked
    record to exist already. Kahn's algorithm, iterative so a long chain cannot exhaust the recursion limit.
    """
    deps: list[set[int]] = []
    dependents: dict[int, list[int]] = {}
    for index, entry in enumerate(pending):
        mine = {ids[ref] for ref in _references(entry.data) if ref in ids and ids[ref] != index}
        deps.append(mine)
        for dep in mine:
            dependents.setdefault(dep, []).append(index)
    waiting = [len(d) for d in deps]
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for dependent in dependents.get(index, []):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    stuck = [i for i, count in enumerate(waiting) if count > 0]
    if stuck:
        names = ", ".join(sorted(str(pending[i].data.id) for i in stuck))
        for index in stuck:
            problems.add(pending[index].where, None, CIRCULAR, ids=names)
    return order


def create_all(
    session: Session,
    actor: User,
    trail: AuditTrail,
    country: str,
    pending: Sequence[Pending],
    problems: Problems,
) -> list[Record]:
    """Create every pending record in dependency order, collecting each one's problems instead of stopping.

    Records are added to the caller's session; when ``problems`` is not empty afterwards the caller must raise
    (``problems.raise_if_any``) so that its transaction rolls all of them back.
    """
    ids: dict[str, int] = {}
    duplicates: set[int] = set()
    for index, entry in enumerate(pending):
        if entry.data.id is None:
            continue
        if entry.data.id in ids:
            duplicates.add(index)
            problems.add(entry.where, "id", DUPLICATE_ID, id=entry.data.id)
        else:
            ids[entry.data.id] = index
    failed: set[str] = set(problems.failed_ids)
    created: list[Record] = []
    for index in _creation_order(pending, ids, problems):
        entry = pending[index]
        if index in duplicates:
            continue
        broken = sorted(ref for ref in _references(entry.data) if ref in failed)
        if broken:
            problems.add(entry.where, None, BROKEN_DEPENDENCY, id=broken[0])
            if entry.data.id:
                failed.add(entry.data.id)
            continue
        try:
            created.append(create_record(session, actor, trail, country, entry.data))
        except ValidationError as exc:
            problems.from_error(entry.where, exc, entry.labels)
            if entry.data.id:
                failed.add(entry.data.id)
    # Entries stuck in a reference cycle were never tried; they already have their problem.
    return created


def finish(
    session: Session,
    actor: User,
    trail: AuditTrail,
    source: str,
    created: list[Record],
    problems: Problems,
    summary: ImportSummary,
) -> ImportSummary:
    """Refuse the whole import if anything failed; otherwise audit it as one import and fill the summary."""
    problems.raise_if_any(source)
    summary.created = len(created)
    summary.ids = [record.id for record in created]
    trail.append(
        session,
        actor,
        "record.imported",
        "record",
        "*",
        {"format": source, "count": summary.created, "skipped": dict(summary.skipped)},
    )
    return summary
