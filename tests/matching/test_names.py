"""Name normalisation: accents and ñ, particles, "SURNAME, Given", legal forms, hypocorisms, phonetic keys."""

from __future__ import annotations

import pytest

from alianza.matching.names import (
    NameParts,
    canonical_given,
    company_name,
    expand_hypocorisms,
    name_keys,
    normalize,
    person_name_parts,
    phonetic,
    same_given_name,
    strip_alias_article,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  PÉREZ-Núñez, José ", "perez nunez jose"),
        ("Iñaki Muñoz", "inaki munoz"),
        ("Güero  López", "guero lopez"),
        ("O'Brien", "o brien"),
        ("María\u0301", "maria"),  # decomposed accent (as macOS writes it)
        ("Владимир", "vladimir"),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_parts_given_first_two_surnames() -> None:
    assert person_name_parts("José Luis Pérez López") == NameParts(("jose", "luis"), "perez", "lopez")


@pytest.mark.parametrize(
    "raw",
    ["PÉREZ LÓPEZ, Juan Carlos", "PÉREZ LÓPEZ Juan Carlos", "PEREZ LOPEZ JUAN CARLOS", "Juan Carlos Pérez López"],
)
def test_parts_surname_first_forms(raw: str) -> None:
    parts = person_name_parts(raw)
    assert (parts.given, parts.paternal, parts.maternal) == (("juan", "carlos"), "perez", "lopez")


def test_parts_particles_and_compound_given_names() -> None:
    parts = person_name_parts("María de los Ángeles García de la Cruz")
    assert parts.given == ("maria", "angeles")
    assert (parts.paternal, parts.maternal) == ("garcia", "cruz")
    assert parts.particles_dropped == ("de los", "de la")
    assert person_name_parts("José de Jesús Hernández").given == ("jose", "jesus")
    assert person_name_parts("Ortega y Gasset, José").maternal == "gasset"
    # a middle word that is no given name is the paternal surname
    assert person_name_parts("Jesús Martín López") == NameParts(("jesus",), "martin", "lopez")


def test_parts_nickname_quoted_and_title() -> None:
    güero = person_name_parts("El Güero Pérez")
    assert (güero.alias, güero.given, güero.paternal) == ("guero", (), "perez")
    jefa = person_name_parts('Sofía "La Jefa" Ordóñez')
    assert (jefa.alias, jefa.given, jefa.paternal) == ("jefa", ("sofia",), "ordonez")
    assert person_name_parts("Lic. Ana Sofía Ruiz Paz") == NameParts(("ana", "sofia"), "ruiz", "paz")


def test_parts_single_word_and_empty() -> None:
    assert person_name_parts("Madonna") == NameParts(given=("madonna",))
    assert person_name_parts("   ") == NameParts()


@pytest.mark.parametrize(
    ("formal", "short"),
    [
        ("Francisco", "Paco"),
        ("Francisco", "Pancho"),
        ("Francisco", "Curro"),
        ("José", "Pepe"),
        ("José", "Chepe"),
        ("Jesús", "Chuy"),
        ("Guadalupe", "Lupe"),
        ("Guadalupe", "Pita"),
        ("Ignacio", "Nacho"),
        ("Enrique", "Quique"),
        ("Alfonso", "Poncho"),
        ("Roberto", "Beto"),
        ("Alberto", "Beto"),
        ("Rafael", "Rafa"),
        ("Manuel", "Manolo"),
        ("Manuel", "Meme"),
        ("Eduardo", "Lalo"),
        ("Refugio", "Cuco"),
        ("Refugio", "Cuca"),
        ("Concepción", "Concha"),
        ("Concepción", "Conchita"),
        ("Dolores", "Lola"),
        ("Rosario", "Chayo"),
        ("Luis", "Güicho"),
        ("Gerardo", "Jerry"),
    ],
)
def test_hypocorisms_both_ways(formal: str, short: str) -> None:
    assert normalize(short) in expand_hypocorisms(formal)
    assert normalize(formal) in expand_hypocorisms(short)
    assert same_given_name(formal, short) and same_given_name(short, formal)


def test_a_shared_hypocorism_does_not_join_two_formal_names() -> None:
    assert same_given_name("Beto", "Roberto") and same_given_name("Beto", "Alberto")
    assert not same_given_name("Roberto", "Alberto")
    assert canonical_given("beto") >= {"roberto", "alberto"}


def test_nicknames_are_aliases_not_hypocorisms() -> None:
    assert "chapo" not in expand_hypocorisms("Joaquín")
    assert not same_given_name("Joaquín", "Chapo")
    assert strip_alias_article("El Mencho") == "mencho"
    assert strip_alias_article("La Tuta") == "tuta"
    assert strip_alias_article("El") == "el"  # an article alone stays


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Comercializadora del Norte S. de R.L. de C.V.", "comercializadora del norte"),
        ("Grupo Alfa S.A.P.I. de C.V.", "grupo alfa"),
        ("Tenedora Pérez, S.A. de C.V.", "tenedora perez"),
        ("Despacho Jurídico S.C.", "despacho juridico"),
        ("Fundación Esperanza A.C.", "fundacion esperanza"),
        ("Acme Holdings LLC", "acme holdings"),
        ("Acme, Inc.", "acme"),
        ("Acme Corp.", "acme"),
        ("Baz Co. Ltd.", "baz"),
        ("Co.", "co"),  # a name that is only a legal form keeps it
    ],
)
def test_company_legal_forms(raw: str, expected: str) -> None:
    assert company_name(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hernández", "Ernandes"),
        ("Jiménez", "Ximénez"),
        ("Giménez", "Jiménez"),
        ("Vázquez", "Basques"),
        ("Illescas", "Yllescas"),
        ("Quiroga", "Kiroga"),
        ("Carrillo", "Cariyo"),
        ("Ibarra", "Ybarra"),
    ],
)
def test_spanish_phonetic_key_joins_spellings(a: str, b: str) -> None:
    assert phonetic(a) == phonetic(b)


@pytest.mark.parametrize(("a", "b"), [("Guerrero", "Gerrero"), ("Pérez", "Páez"), ("Chávez", "Cávez")])
def test_spanish_phonetic_key_keeps_sounds_apart(a: str, b: str) -> None:
    assert phonetic(a) != phonetic(b)


def test_name_keys_meet_across_forms() -> None:
    base = name_keys("José Luis Pérez López")
    assert base & name_keys("PÉREZ, Pepe")  # hypocorism, order swap, dropped maternal surname
    assert base & name_keys("LOPEZ PEREZ, Jose")  # surnames swapped
    assert base & name_keys("Jose Peres Lopes")  # spelling by sound
    assert not base & name_keys("María Fernanda Ruiz Paz")
    assert isinstance(base, set)
