"""Screening names as analysts type them: natural order, SURNAME, Given, no accents, hypocorisms, nicknames,
dropped maternal surnames, typos; relatives stay below the threshold; every hit explains itself."""

from __future__ import annotations

import pytest

from alianza.errors import ValidationError
from alianza.matching.lists import ListFile, parse_list
from alianza.matching.screening import (
    ALGORITHM,
    DEFAULT_THRESHOLD,
    PRIOR,
    Entry,
    Hit,
    ScreeningIndex,
    Subject,
    read_subjects,
    screen_name,
    screen_subjects,
)

SDN = (
    '17301,"OSEGUERA CERVANTES, Nemesio","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 17 Jul '
    "1966; nationality Mexico; C.U.R.P. OECN660717HMNSRM04 (Mexico); a.k.a. 'EL MENCHO'.\"\r\n"
    '17400,"PEREZ LOPEZ, Jesus","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 01 Jan 1960."\r\n'
    '17401,"PEREZ LOPEZ, Maria Guadalupe","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    '17500,"GUZMAN LOERA, Joaquin Archivaldo","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    "\"DOB 04 Apr 1957; a.k.a. 'EL CHAPO'.\"\r\n"
    '17600,"DE LA CRUZ RAMIREZ, Francisco","individual","SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    '17700,"TRANSPORTES DEL PACIFICO, S.A. DE C.V.",-0- ,"SDNTK",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
)
ALT = '17301,1,"aka","OSEGUERA, Nemesio",-0- \r\n'


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    parsed = parse_list([ListFile("sdn.csv", SDN.encode()), ListFile("alt.csv", ALT.encode())], name="ofac-sdn")
    return ScreeningIndex(parsed.entries, version=parsed.version)


def _top(index: ScreeningIndex, query: str | Subject) -> Hit:
    hits = screen_name(query, index, threshold=0.0)
    assert hits, query
    return hits[0]


@pytest.mark.parametrize(
    ("query", "entry"),
    [
        ("Nemesio Oseguera Cervantes", "17301"),  # natural order
        ("OSEGUERA CERVANTES, Nemesio", "17301"),  # as OFAC writes it
        ("nemesio oseguera cervantes", "17301"),  # lower case
        ("Nemesio Oseguera", "17301"),  # maternal surname dropped
        ("OSEGUERA CERVANTES Nemesio", "17301"),  # surnames first in capitals, no comma
        ("Mencho Oseguera", "17301"),  # nickname + surname
        ("El Mencho Oseguera", "17301"),
        ("El Mencho", "17301"),  # the nickname alone
        ("Nemesio Oseguerra Cervantes", "17301"),  # a typo
        ("Nemecio Oseguera", "17301"),  # a sound-alike spelling, maternal dropped
        ("Chuy Pérez López", "17400"),  # hypocorism
        ("Chuy Pérez", "17400"),  # hypocorism, maternal dropped
        ("Jesús Pérez", "17400"),  # accents the list does not write
        ("Lupita Pérez López", "17401"),  # hypocorism of the second given name
        ("María Pérez López", "17401"),  # the second given name left out
        ("Joaquín Guzmán Loera", "17500"),
        ("Chapo Guzmán", "17500"),
        ("Paco de la Cruz", "17600"),  # particles and a hypocorism
        ("Francisco Cruz Ramírez", "17600"),  # particles dropped
        ("Transportes del Pacífico SA de CV", "17700"),  # a company, legal form written otherwise
    ],
)
def test_typed_queries_find_the_entry(index: ScreeningIndex, query: str, entry: str) -> None:
    hit = _top(index, query)
    assert hit.entry.external_id == entry
    assert hit.score >= DEFAULT_THRESHOLD, hit.explanation()
    explanation = hit.explanation()
    assert explanation["algorithm"] == ALGORITHM
    assert explanation["query"] == query
    assert explanation["matched"], "a hit names the features that matched"
    total = PRIOR + sum(f["points"] for f in explanation["features"])
    assert total == pytest.approx(explanation["points"], abs=0.01)


def test_explanation_names_the_features(index: ScreeningIndex) -> None:
    features = {f.name: f for f in _top(index, "Chuy Pérez").features}
    assert features["given_name"].level == "hypocorism"
    assert (features["given_name"].query, features["given_name"].entry) == ("chuy", "jesus")
    assert features["paternal_surname"].level == "exact"
    assert features["maternal_surname"].level == "dropped"
    assert features["maternal_surname"].points < 0
    nick = {f.name: f for f in _top(index, "Mencho Oseguera").features}
    assert nick["given_name"].level == "nickname"
    assert nick["given_name"].query == "mencho"


@pytest.mark.parametrize(
    "query",
    [
        "Pedro Pérez López",  # a sibling: same two surnames, another given name
        "PEREZ LOPEZ, Pedro",
        "Pedro Pérez",
        "Jesús Pérez García",  # same given name and paternal surname, another maternal surname
        "Nemesio Oseguera Garza",
        "Juan Guzmán Loera",
        "Oseguera Cervantes",  # surnames alone
        "Mario Pérez López",  # a letter from María, but another name
        "Alberto Oseguera Cervantes",
    ],
)
def test_relatives_do_not_pass_the_default_threshold(index: ScreeningIndex, query: str) -> None:
    assert screen_name(query, index) == []


def test_evidence_moves_the_score(index: ScreeningIndex) -> None:
    plain = _top(index, "Nemesio Oseguera").score
    same_dob = screen_name("Nemesio Oseguera", index, birth_date="1966-07-17", threshold=0.0)[0]
    other_dob = screen_name("Nemesio Oseguera", index, birth_date="1980-01-01", threshold=0.0)[0]
    assert same_dob.score > plain > other_dob.score
    assert {f.name: f.level for f in other_dob.features}["birth_date"] == "differs"
    # a shared CURP finds the entry even under another name, and says so
    by_id = screen_name("Juan Gómez", index, identifiers=["oecn-660717-hmnsrm04"], threshold=0.0)[0]
    assert by_id.entry.external_id == "17301"
    assert "identifier" in by_id.explanation()["matched"]
    other_country = screen_name("Nemesio Oseguera", index, nationality="co", threshold=0.0)[0]
    assert other_country.score < plain


def test_people_are_not_screened_against_companies(index: ScreeningIndex) -> None:
    person = Subject(names=("Transportes del Pacifico",), schema="Person")
    assert screen_name(person, index, threshold=0.0) == []
    company = Subject(names=("Nemesio Oseguera",), schema="Company")
    assert all(not h.entry.is_person for h in screen_name(company, index, threshold=0.0))


def test_a_subject_with_aliases_is_screened_under_each(index: ScreeningIndex) -> None:
    subject = Subject(names=("Juan Gómez", "El Mencho"), schema="Person")
    [(screened, hits)] = screen_subjects([subject], index)
    assert screened is subject
    assert hits[0].entry.external_id == "17301"
    assert hits[0].query_name == "El Mencho"


def test_blocking_keys_meet_across_hypocorisms_and_orders(index: ScreeningIndex) -> None:
    assert "17400" in {e.external_id for e in index.candidates("Chuy Perez")}
    assert "17301" in {e.external_id for e in index.candidates("oseguera nemesio")}
    assert index.candidates("Zacarías Ybarra") == []


def test_screening_works_on_plain_entries() -> None:
    entries = [Entry("1", "Person", ("HERNANDEZ GARCIA, Jose Luis",))]
    assert screen_name("Pepe Hernández", entries)[0].entry.external_id == "1"


def test_subject_files() -> None:
    csv_file = "nombre,fecha_nacimiento,nacionalidad\nChuy Pérez,1960-01-01,mexicana\nEl Mencho,,\n".encode()
    first, second = read_subjects(csv_file, "sujetos.csv")
    assert first == Subject(names=("Chuy Pérez",), birth_dates=("1960-01-01",), nationalities=("mx",))
    assert second.names == ("El Mencho",)
    lines = read_subjects(b"# names to check\nNemesio Oseguera\n\nChuy Perez\n", "names.txt")
    assert [s.text for s in lines] == ["Nemesio Oseguera", "Chuy Perez"]
    with pytest.raises(ValidationError) as caught:
        read_subjects(b"name,birth_date,schema\nJuan,yesterday,person\n,1960,alien\nonly\n", "bad.csv")
    assert [d["message"] for d in caught.value.details] == [
        "line 2: 'yesterday' is not a date (write 1966-07-17, 17/07/1966 or 1966).",
        "line 3: the name is empty.",
        "line 3: schema 'alien' is neither a person nor an organisation.",
        "line 4: expected 3 columns, found 1.",
    ]
    with pytest.raises(ValidationError):
        read_subjects(b"", "empty.txt")
