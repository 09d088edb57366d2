"""CSV through a column mapping: Spanish headers with accents, day-first dates, bad rows named by line."""

from __future__ import annotations

import unicodedata

import pytest

from alianza.accounts.models import User
from alianza.errors import ValidationError
from alianza.node import Node
from alianza.records.interchange import CsvMapping, import_csv, load_mapping
from alianza.records.models import Record
from tests.records.interchange_support import DEFAULTS, counts

MAPPING = """
schema: Person
id_column: Folio
columns:
  Nombre completo: name
  Fecha de nacimiento: birthDate
  Alias: alias
  Nacionalidad: nationality
markings:
  tlp: {column: Clasificación}
  handling: H2
  us_person: {column: "¿Persona de EUA?"}
delimiter: ";"
multi_value_separator: "|"
date_formats: ["%d/%m/%Y"]
"""

# The header's accents are decomposed (as macOS writes them); the mapping's are composed: they must still match.
HEADER = unicodedata.normalize(
    "NFD", "Folio;Nombre completo;Fecha de nacimiento;Alias;Nacionalidad;Clasificación;¿Persona de EUA?"
)


def _mapping() -> CsvMapping:
    return load_mapping(MAPPING)


def test_spanish_columns_accents_and_dates(node: Node, analyst: User) -> None:
    text = "\n".join(
        [
            HEADER,
            "P-001;José Ángel Pérez Núñez;17/05/1980;El Güero|Don Pepe;México;TLP:AMBER+STRICT;no",
            "P-002;Iñaki Muñoz;1975-01-02;;mx;;sí",
            ";;;;;;",  # blank rows are ignored
            'P-003;"Sofía ""La Jefa"" Ordóñez";;;;green;',
        ]
    )
    with node.db.transaction() as session:
        summary = import_csv(session, analyst, node.trail, "MX", text, _mapping(), DEFAULTS)
    assert summary.created == 3 and summary.ids == ["P-001", "P-002", "P-003"]
    with node.db.reading() as session:
        jose, inaki, sofia = (session.get(Record, i) for i in summary.ids)
        assert jose is not None and inaki is not None and sofia is not None
        assert jose.properties["name"] == ["José Ángel Pérez Núñez"]
        assert jose.properties["birthDate"] == ["1980-05-17"]
        assert sorted(jose.properties["alias"]) == ["Don Pepe", "El Güero"]
        assert jose.properties["nationality"] == ["mx"]
        assert (jose.tlp, jose.handling, jose.us_person) == ("AMBER+STRICT", "H2", False)
        assert (inaki.tlp, inaki.us_person, inaki.properties["birthDate"]) == ("AMBER", True, ["1975-01-02"])
        assert sofia.properties["name"] == ['Sofía "La Jefa" Ordóñez']
        assert sofia.tlp == "GREEN" and sofia.us_person is False  # empty cell → the default


def test_bad_date_on_line_3_is_named_and_nothing_written(node: Node, analyst: User) -> None:
    text = "\n".join(
        [
            HEADER,
            "P-001;José Ángel Pérez Núñez;17/05/1980;;México;AMBER;no",
            "P-002;Iñaki Muñoz;31/02/1985;;México;AMBER;no",
            "P-003;Sofía Ordóñez;01/01/1990;;México;AMBER;no",
        ]
    )
    before = counts(node)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_csv(session, analyst, node.trail, "MX", text, _mapping(), DEFAULTS)
    details = caught.value.details
    assert len(details) == 1
    assert details[0]["line"] == 3
    assert details[0]["field"] == "Fecha de nacimiento"
    assert "31/02/1985" in details[0]["message"]
    assert counts(node) == before


def test_every_bad_row_and_cell_is_named(node: Node, analyst: User) -> None:
    text = "\n".join(
        [
            HEADER,
            "P-001;Ana;01/01/1990;;México;morado;no",  # line 2: unknown TLP
            "P-002;Luis;01/01/1990;;México;AMBER;quizá",  # line 3: not yes/no
            "P-003;;01/01/1990;;México;AMBER;no",  # line 4: no name
            "P-004;Eva;01/01/1990;;México;AMBER;no;extra",  # line 5: too many cells
            "P-004;Eva;01/01/1990;;México;AMBER;no",  # line 6: fine
        ]
    )
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_csv(session, analyst, node.trail, "MX", text, _mapping(), DEFAULTS)
    by_line = {d["line"]: d for d in caught.value.details}
    assert sorted(by_line) == [2, 3, 4, 5]
    assert by_line[2]["field"] == "Clasificación"
    assert by_line[3]["field"] == "¿Persona de EUA?" and "quizá" in by_line[3]["message"]
    assert by_line[4]["field"] == "Nombre completo"
    assert "7" in by_line[5]["message"] and "8" in by_line[5]["message"]


def test_missing_columns_and_bad_mappings(node: Node, analyst: User) -> None:
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_csv(session, analyst, node.trail, "MX", "Folio;Nombre completo\nP-1;Ana\n", _mapping(), DEFAULTS)
    missing = sorted(d["field"] for d in caught.value.details)
    assert missing == ["Alias", "Clasificación", "Fecha de nacimiento", "Nacionalidad", "¿Persona de EUA?"]
    assert all(d["line"] == 1 for d in caught.value.details)
    with pytest.raises(ValidationError, match="mapping is not valid"):
        load_mapping("schema: Person\ncolumns: {Nombre: nombre}\n")
    with pytest.raises(ValidationError, match="mapping is not valid"):
        load_mapping({"schema": "Person", "columns": {"Nombre": "name"}, "markings": {"colour": "red"}})
    with pytest.raises(ValidationError, match="mapping is not valid"):
        load_mapping("schema: [unclosed\n")


def test_rows_link_to_records_of_earlier_files_through_the_id_column(node: Node, analyst: User) -> None:
    companies = load_mapping({"schema": "Company", "id_column": "Clave", "columns": {"Razón social": "name"}})
    ownerships = load_mapping(
        {"schema": "Ownership", "columns": {"Dueña": "owner", "Empresa": "asset", "Porcentaje": "percentage"}}
    )
    with node.db.transaction() as session:
        text = "Clave,Razón social\nE-1,Ejemplo SA de CV\nE-2,Filial SA de CV\n"
        import_csv(session, analyst, node.trail, "MX", text, companies, DEFAULTS)
    with node.db.transaction() as session:
        text = "Dueña,Empresa,Porcentaje\nE-1,E-2,100\n"
        summary = import_csv(session, analyst, node.trail, "MX", text, ownerships, DEFAULTS)
    assert summary.created == 1
    with node.db.reading() as session:
        ownership = session.get(Record, summary.ids[0])
        assert ownership is not None
        assert ownership.properties["owner"] == ["E-1"] and ownership.properties["asset"] == ["E-2"]


def test_without_markings_anywhere_each_row_says_so(node: Node, analyst: User) -> None:
    mapping = load_mapping({"schema": "Person", "columns": {"Nombre": "name"}})
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_csv(session, analyst, node.trail, "MX", "Nombre\nAna\nLuis\n", mapping, None)
    assert [d["line"] for d in caught.value.details] == [2, 3]
    assert all("No markings" in d["message"] for d in caught.value.details)
