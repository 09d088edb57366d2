"""Sanctions list formats: OFAC's legacy CSV as published, the UIF's CSV, FtM JSON lines; bad files refused whole."""

from __future__ import annotations

import json

import pytest

from alianza.errors import ValidationError
from alianza.matching.lists import (
    FTM,
    OFAC,
    UIF,
    ListFile,
    detect_format,
    list_version,
    parse_ftm,
    parse_list,
    parse_ofac,
    parse_ofac_remarks,
    parse_uif,
)
from alianza.matching.screening import Identifier

# As OFAC publishes them: no header, CRLF, "-0- " for empty, quoted text, weak a.k.a. in the remarks, a remark
# spanning two lines inside its quotes, and the closing Ctrl-Z.
SDN = (
    '36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    '17301,"OSEGUERA CERVANTES, Nemesio","individual","SDNTK] [ILLICIT-DRUGS-EO14059",-0- ,-0- ,-0- ,-0- ,-0- ,'
    '-0- ,-0- ,"DOB 17 Jul 1966; alt. DOB 1964; POB Naranjo de Chila, Michoacan, Mexico; nationality Mexico; '
    "citizen Mexico; Gender Male; C.U.R.P. OECN660717HMNSRM04 (Mexico); a.k.a. 'EL MENCHO'; "
    "a.k.a. 'MENCHO'.\"\r\n"
    '17400,"PEREZ LOPEZ, Jesus","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB circa 1960;\r\n'
    'nationality Mexico; R.F.C. PELJ600101AB1 (Mexico); Passport G12345678 (Mexico)."\r\n'
    '17500,"DON CHEPE","vessel","SDNTK",-0- ,"XYZ1","Fishing",-0- ,"120","Mexico","-0- ",-0- \r\n'
    "\x1a"
)
ALT = '17301,1001,"aka","OSEGUERA, Nemesio",-0- \r\n17400,1002,"fka","PEREZ, Jesus",-0- \r\n'
ADD = '17301,2001,-0- ,"Guadalajara, Jalisco","Mexico",-0- \r\n36,2002,"Calle 23","Havana","Cuba",-0- \r\n'


def _ofac(sdn: str = SDN, alt: str | None = ALT, add: str | None = ADD) -> list[ListFile]:
    files = [ListFile("sdn.csv", sdn.encode("cp1252"))]
    if alt is not None:
        files.append(ListFile("alt.csv", alt.encode()))
    if add is not None:
        files.append(ListFile("add.csv", add.encode()))
    return files


def _problems(caught: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [f"{d['field']}: {d['message']}" for d in caught.value.details]


def test_ofac_files_as_published() -> None:
    entries = {e.external_id: e for e in parse_ofac(_ofac(), "ofac-sdn")}
    assert set(entries) == {"36", "17301", "17400", "17500"}
    airline = entries["36"]
    assert airline.schema == "Organization"
    assert airline.programs == ("CUBA",)
    assert airline.remarks == ""  # -0- is empty
    assert airline.addresses == ("Calle 23, Havana, Cuba",)
    mencho = entries["17301"]
    assert mencho.schema == "Person"
    assert mencho.names == ("OSEGUERA CERVANTES, Nemesio", "OSEGUERA, Nemesio")
    assert mencho.weak_aliases == ("EL MENCHO", "MENCHO")
    assert mencho.birth_dates == ("1966-07-17", "1964")
    assert mencho.nationalities == ("mx",)
    assert mencho.identifiers == (Identifier("curp", "OECN660717HMNSRM04", "mx"),)
    assert mencho.programs == ("SDNTK", "ILLICIT-DRUGS-EO14059")
    assert mencho.addresses == ("Guadalajara, Jalisco, Mexico",)
    assert mencho.list_name == "ofac-sdn"
    perez = entries["17400"]  # its remarks span two lines inside the quotes
    assert perez.birth_dates == ("1960",)
    assert perez.nationalities == ("mx",)
    assert {i.kind for i in perez.identifiers} == {"rfc", "passport"}
    assert perez.names[1] == "PEREZ, Jesus"  # fka
    vessel = entries["17500"]
    assert vessel.schema == "Vessel"
    assert vessel.nationalities == ("mx",)  # the flag


def test_ofac_remarks() -> None:
    parsed = parse_ofac_remarks(
        "DOB 1964 to 1966; alt. DOB Jul 1970; nationality Colombia; alt. citizen Mexico; "
        'Cedula No. 123456 (Colombia); a.k.a. "EL SEÑOR"; a.k.a. CHAPITO.'
    )
    assert parsed.birth_dates == ["1964", "1965", "1966", "1970-07"]
    assert parsed.nationalities == ["co", "mx"]
    assert parsed.identifiers == [Identifier("cedula", "123456", "co")]
    assert parsed.weak_aliases == ["EL SEÑOR", "CHAPITO"]


def test_bad_ofac_files_report_every_line_and_nothing_is_parsed() -> None:
    sdn = (
        '1,"GOOD, Name","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
        '2,"SHORT, Row","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- \r\n'
        'x,"BAD, Number","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
        '1,"DUPLICATE, Number","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
        '4,"ODD, Type","person","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
        '5,-0- ,"individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    )
    alt = '1,10,"aka","GOOD, Alias",-0- \r\n99,11,"aka","ORPHAN, Alias",-0- \r\n1,12,"alias","BAD, Type",-0- \r\n'
    with pytest.raises(ValidationError) as caught:
        parse_ofac(_ofac(sdn, alt, None), "ofac-sdn")
    assert _problems(caught) == [
        "sdn.csv: line 2: expected 12 columns, found 9.",
        "sdn.csv: line 3: ent_num must be a whole number, found 'x'.",
        "sdn.csv: line 4: ent_num 1 is already on line 1.",
        "sdn.csv: line 5: SDN_Type must be individual, vessel, aircraft or -0- (an entity), found 'person'.",
        "sdn.csv: line 6: SDN_Name is empty.",
        "alt.csv: line 2: ent_num 99 is not in sdn.csv.",
        "alt.csv: line 3: alt_type must be aka, fka or nka, found 'alias'.",
    ]
    assert "nothing was changed" in str(caught.value)
    assert caught.value.details[0]["params"]["line"] == 2


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ([ListFile("sdn.csv", ALT.encode())], "sdn.csv: line 1: expected 12 columns, found 5."),
        ([ListFile("sdn.csv", b'1,"UNCLOSED, Quote,"individual"\r\n')], "sdn.csv: line 1: the CSV is malformed"),
        ([ListFile("sdn.csv", b"PK\x03\x04\x00\x00")], "sdn.csv: line 1: a NUL byte"),
        ([ListFile("alt.csv", ALT.encode())], "alt.csv: an OFAC list needs sdn.csv"),
        ([ListFile("sdn.csv", SDN.encode()), ListFile("names.csv", b"")], "names.csv: is not one of OFAC's files"),
    ],
)
def test_wrong_ofac_files(files: list[ListFile], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_list(files, OFAC, "ofac-sdn")
    assert _problems(caught)[0].startswith(expected)


UIF_CSV = (
    "nombre,tipo,rfc,curp,fecha_nacimiento,nacionalidad,alias,fecha_inclusion,fundamento\n"
    "Nemesio Oseguera Cervantes,persona física,OECN660717AB1,OECN660717HMNSRM04,17/07/1966,Mexicana,"
    "El Mencho; Nemesio Oseguera,2015-04-08,Art. 115 LIC\n"
    "Comercializadora del Pacífico S.A. de C.V.,persona moral,CPA010101AB1,,2001-01-01,México,,2020-01-15,\n"
)


def test_uif_csv() -> None:
    entries = parse_uif(ListFile("lpb.csv", UIF_CSV.encode()), "uif-lpb")
    person, company = entries
    assert person.external_id == "OECN660717AB1"
    assert person.schema == "Person"
    assert person.names == ("Nemesio Oseguera Cervantes", "Nemesio Oseguera")
    assert person.weak_aliases == ("El Mencho",)
    assert person.birth_dates == ("1966-07-17",)
    assert person.nationalities == ("mx",)
    assert {i.kind for i in person.identifiers} == {"rfc", "curp"}
    assert company.schema == "Organization"
    assert company.nationalities == ("mx",)
    # Excel in Spanish writes semicolons
    semicolons = UIF_CSV.replace(",", ";").replace("El Mencho; Nemesio Oseguera", "El Mencho")
    assert len(parse_uif(ListFile("lpb.csv", semicolons.encode()), "uif-lpb")) == 2


def test_bad_uif_lines() -> None:
    bad = (
        "nombre,tipo,rfc,curp,fecha_nacimiento,nacionalidad,alias,fecha_inclusion,fundamento\n"
        "Juan Pérez,persona,,,,,,2020-01-01,\n"
        "Juan Pérez,persona física,XXXX,,31/02/1980,Narnia,,2020-01-01,\n"
        "ACME,persona moral,,PELJ600101HDFRPN09,,,,ayer,\n"
        "solo,dos\n"
    )
    with pytest.raises(ValidationError) as caught:
        parse_uif(ListFile("lpb.csv", bad.encode()), "uif-lpb")
    assert _problems(caught) == [
        "lpb.csv: line 2: tipo must be 'persona física' or 'persona moral', found 'persona'.",
        "lpb.csv: line 3: rfc 'XXXX' is not an RFC of a persona física (13 characters: letters, date AAMMDD, "
        "homoclave).",
        "lpb.csv: line 3: fecha_nacimiento '31/02/1980' is not a date (AAAA-MM-DD or DD/MM/AAAA).",
        "lpb.csv: line 3: nacionalidad 'Narnia' is not a country.",
        "lpb.csv: line 4: a persona moral has no CURP.",
        "lpb.csv: line 4: fecha_inclusion 'ayer' is not a date (AAAA-MM-DD or DD/MM/AAAA).",
        "lpb.csv: line 5: expected 9 columns, found 2.",
    ]
    with pytest.raises(ValidationError) as caught:
        parse_uif(ListFile("lpb.csv", b"name,type\nJuan,person\n"), "uif-lpb")
    assert "line 1: the header must be nombre,tipo,rfc" in _problems(caught)[0]


def _ftm(*entities: object) -> ListFile:
    return ListFile("targets.jsonl", "\n".join(json.dumps(e) for e in entities).encode())


def test_ftm_lines() -> None:
    file = _ftm(
        {
            "id": "p1",
            "schema": "Person",
            "properties": {
                "name": ["Nemesio Oseguera Cervantes"],
                "alias": ["OSEGUERA, Nemesio"],
                "weakAlias": ["El Mencho"],
                "birthDate": ["1966-07-17"],
                "nationality": ["mx"],
                "idNumber": ["OECN660717HMNSRM04"],
                "program": ["SDNTK"],
            },
        },
        {"id": "c1", "schema": "Company", "properties": {"name": ["Acme S.A. de C.V."], "jurisdiction": ["mx"]}},
        {"id": "s1", "schema": "Sanction", "properties": {"program": ["SDNTK"]}},
    )
    entries, skipped = parse_ftm(file, "opensanctions")
    assert skipped == 1
    person, company = entries
    assert person.names == ("Nemesio Oseguera Cervantes", "OSEGUERA, Nemesio")
    assert person.weak_aliases == ("El Mencho",)
    assert person.identifiers == (Identifier("idNumber", "OECN660717HMNSRM04"),)
    assert company.schema == "Company"
    assert company.nationalities == ("mx",)


def test_bad_ftm_lines() -> None:
    file = ListFile(
        "targets.jsonl",
        b'{"id": "p1", "schema": "Person", "properties": {"name": ["A"]}}\n'
        b"not json\n"
        b'{"id": "p2", "schema": "Persona", "properties": {}}\n'
        b'{"id": "p3", "schema": "Person", "properties": {"name": ["B"], "shoeSize": ["44"]}}\n'
        b'{"id": "p4", "schema": "Person", "properties": {"alias": ["C"]}}\n'
        b'{"id": "p1", "schema": "Person", "properties": {"name": ["D"]}}\n',
    )
    with pytest.raises(ValidationError) as caught:
        parse_ftm(file, "opensanctions")
    problems = _problems(caught)
    assert problems[0].startswith("targets.jsonl: line 2: not JSON")
    assert problems[1:] == [
        "targets.jsonl: line 3: 'Persona' is not a FollowTheMoney schema.",
        "targets.jsonl: line 4: Person has no property 'shoeSize'.",
        "targets.jsonl: line 5: the entity p4 has no name.",
        "targets.jsonl: line 6: the entity p1 is already on line 1.",
    ]


def test_version_is_the_hash_of_the_contents() -> None:
    files = _ofac()
    version = parse_list(files).version
    assert parse_list(list(reversed(files))).version == version
    renamed = [ListFile(f.name.upper(), f.data) for f in files]
    assert list_version(OFAC, renamed) == version
    changed = [ListFile("sdn.csv", SDN.replace("Nemesio", "Nemecio").encode()), *files[1:]]
    assert parse_list(changed).version != version


def test_format_detection() -> None:
    assert detect_format(_ofac()) == OFAC
    assert detect_format([ListFile("lpb.csv", b"")]) == UIF
    assert detect_format([ListFile("targets.jsonl", b"")]) == FTM
    with pytest.raises(ValidationError, match="Cannot tell the format"):
        detect_format([ListFile("list.xlsx", b"")])


def test_line_numbers_count_the_lines_a_quoted_remark_spans() -> None:
    two_lines = (
        '1,"PEREZ, Jesus","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 1960;\r\nPOB Mexico."\r\n'
    )
    short = '2,"SHORT, Row","individual"\r\n'
    with pytest.raises(ValidationError) as caught:
        parse_ofac([ListFile("sdn.csv", (two_lines + "\r\n" + short).encode())], "ofac-sdn")
    assert _problems(caught) == ["sdn.csv: line 4: expected 12 columns, found 3."]
