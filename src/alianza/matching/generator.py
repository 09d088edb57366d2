"""Deterministic Spanish-name test data for entity resolution: two record sets and the ground truth.

Real records of the mechanism cannot leave their agencies, so the benchmarks and tests run on people made up
here, with the ways Mexican and US clerks actually write the same person differently: two surnames (the
maternal one often dropped), particles (de la Cruz, del Río), accents lost, compound given names (José Luis,
María de los Ángeles) cut to one, hypocorisms (Paco for Francisco), a nickname with the surname ("El Güero
Pérez"), "PÉREZ LÓPEZ, Juan" order, typos, and dates of birth missing, typed wrong or with day and month
swapped. It also makes the hard negatives that break naive matchers: siblings (same surnames, another given
name, close birth dates), twins (same surnames and birth date) and a father and son of the same full name.

Same ``seed`` → same data, byte for byte (``random.Random`` only, no global state).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# Surnames roughly in Mexican frequency order; the weights below follow a Zipf curve over this order.
SURNAMES = """
    Hernández García Martínez López González Pérez Rodríguez Sánchez Ramírez Cruz Flores Gómez Morales
    Vázquez Reyes Jiménez Torres Díaz Gutiérrez Ruiz Mendoza Aguilar Ortiz Moreno Castillo Romero Álvarez
    Méndez Chávez Rivera Juárez Ramos Domínguez Herrera Medina Castro Vargas Guzmán Velázquez Rojas
    Contreras Salazar Luna Ortega Santiago Guerrero Estrada Bautista Cortés Soto Alvarado Espinoza Lara
    Ávila Ríos Cervantes Silva Delgado Vega Márquez Sandoval Carrillo León Mejía Solís Núñez Rosas Valdez
    Ibarra Campos Cárdenas Navarro Figueroa Peña Cabrera Molina Fuentes Rosales Acosta Escobar Pacheco
    Salinas Maldonado Miranda Valencia Trejo Velasco Zamora Galván Montes Robles Tapia Camacho Ochoa
    Villanueva Zúñiga Beltrán Quintero Orozco Arellano Zavala Villegas Padilla Sosa Esquivel Benítez Lozano
    Osorio Barrera Ponce Cano Ayala Rangel Meza Cisneros Marín Bravo Serrano Olvera Montoya Arias Ornelas
    Saucedo Quiroz Hidalgo Xicoténcatl Yáñez Ybarra Llamas Villaseñor Bustamante Gallegos Zepeda Arroyo
    Vallejo Sepúlveda Quiñones Huerta Gil Peralta
""".split()  # noqa: SIM905
PARTICLE_SURNAMES = ["de la Cruz", "de León", "del Río", "de la Torre", "de los Santos", "de la Rosa", "del Valle"]

MALE = """
    José Juan Luis Carlos Jesús Miguel Francisco Jorge Antonio Alejandro Manuel Pedro Ricardo Roberto
    Fernando Eduardo Javier Rafael Sergio Daniel Arturo Raúl Enrique Alberto Martín Óscar Víctor Héctor
    Salvador Mario Guillermo Gerardo Ignacio Alfonso Armando Rubén Ramón Hugo Gustavo Andrés Pablo Ernesto
    Alfredo Rodolfo Joaquín Gonzalo Vicente Ángel Ismael Emilio Julio Octavio Agustín Santiago Gabriel Diego
    Adrián Iván Omar Humberto Felipe Tomás Benjamín Gregorio Rogelio Refugio Isaac Abraham Efraín Ezequiel
    Baltazar Lorenzo Noé
""".split()  # noqa: SIM905
FEMALE = """
    María Guadalupe Juana Margarita Verónica Patricia Leticia Rosa Elizabeth Alejandra Gabriela Silvia
    Adriana Araceli Teresa Martha Laura Ana Claudia Yolanda Lucía Sofía Fernanda Isabel Carmen Dolores
    Rosario Mercedes Concepción Socorro Graciela Beatriz Cecilia Consuelo Soledad Luisa Alicia Natalia
    Cristina Mónica Norma Sandra Susana Irma Blanca Lorena Diana Karla Paola Daniela Valeria Ximena Regina
    Itzel Brenda Miriam Josefina Francisca Refugio Esperanza Gloria Eugenia Olga Raquel Lourdes Angélica
    Fabiola Jazmín Nayeli
""".split()  # noqa: SIM905
MALE_SECOND = ["Luis", "Carlos", "Antonio", "Manuel", "Miguel", "Ángel", "Alberto", "Francisco", "Eduardo",
               "de Jesús", "Ramón", "Alfredo", "Javier", "Armando", "María"]  # fmt: skip
FEMALE_SECOND = ["Guadalupe", "Fernanda", "José", "Isabel", "Elena", "del Carmen", "de los Ángeles", "de Jesús",
                 "Luisa", "Teresa", "Eugenia", "de la Luz", "Cristina", "Alejandra", "del Rosario"]  # fmt: skip
# Hypocorisms as the generator writes them (a subset of what ``names`` knows, spelled as people write them).
HYPOCORISMS = {
    "Francisco": ["Paco", "Pancho", "Curro"], "José": ["Pepe", "Chepe"], "Jesús": ["Chuy", "Chucho"],
    "Guadalupe": ["Lupe", "Lupita", "Pita"], "Ignacio": ["Nacho"], "Enrique": ["Quique"], "Alfonso": ["Poncho"],
    "Roberto": ["Beto"], "Alberto": ["Beto"], "Rafael": ["Rafa"], "Manuel": ["Manolo", "Meme"],
    "Eduardo": ["Lalo"], "Refugio": ["Cuco", "Cuca"], "Concepción": ["Concha", "Conchita"], "Dolores": ["Lola"],
    "Rosario": ["Chayo"], "Luis": ["Güicho"], "Gerardo": ["Jerry"], "Guillermo": ["Memo"], "Antonio": ["Toño"],
    "Salvador": ["Chava"], "Gonzalo": ["Chalo"], "Isabel": ["Chabela"], "Gregorio": ["Goyo"],
    "Santiago": ["Chago"], "Mercedes": ["Meche"], "Socorro": ["Coco"], "Soledad": ["Chole"],
    "Consuelo": ["Chelo"], "Graciela": ["Chela"], "Vicente": ["Chente"], "Ernesto": ["Neto"],
    "Rodolfo": ["Fito"], "Fernando": ["Nando"], "Alejandro": ["Alex"], "Patricia": ["Paty"],
    "Beatriz": ["Bety"], "Teresa": ["Tere"], "Margarita": ["Mago"], "Ezequiel": ["Cheque"],
}  # fmt: skip
NICKNAMES = ["El Güero", "El Flaco", "El Gordo", "El Chino", "El Negro", "El Chato", "La Güera", "El Mocho",
             "El Compa", "El Tuerto", "El Pelón", "El Cholo", "El Zurdo", "La Flaca", "El Primo"]  # fmt: skip
# Spellings a clerk writes for the same sound.
SOUND_SWAPS = [("v", "b"), ("b", "v"), ("z", "s"), ("s", "z"), ("ll", "y"), ("y", "ll"), ("j", "x"), ("x", "j"),
               ("h", ""), ("ce", "se"), ("ci", "si"), ("gi", "ji"), ("ge", "je"), ("qu", "k")]  # fmt: skip
_ACCENTS = str.maketrans("áéíóúüñÁÉÍÓÚÜÑ", "aeiouunAEIOUUN")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class Person:
    """One made-up person: the truth from which the records of either side are written."""

    given: list[str]
    paternal: str
    maternal: str
    sex: str
    birth: tuple[int, int, int]
    country: str
    ident: str = ""


@dataclass
class Dataset:
    left: list[dict[str, Any]]
    right: list[dict[str, Any]]
    truth: set[tuple[str, str]]
    hard_negatives: list[tuple[str, str, str]] = field(default_factory=list)


def _zipf(items: list[str], exponent: float) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(len(items))]


_SURNAME_W = _zipf(SURNAMES, 0.6)
_MALE_W = _zipf(MALE, 0.7)
_FEMALE_W = _zipf(FEMALE, 0.7)


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # --- people ---------------------------------------------------------------------------------------------
    def surname(self) -> str:
        if self.rng.random() < 0.03:
            return self.rng.choice(PARTICLE_SURNAMES)
        return self.rng.choices(SURNAMES, _SURNAME_W)[0]

    def given(self, sex: str) -> list[str]:
        rng = self.rng
        first = rng.choices(MALE, _MALE_W)[0] if sex == "M" else rng.choices(FEMALE, _FEMALE_W)[0]
        if rng.random() < 0.35:
            second = rng.choice(MALE_SECOND if sex == "M" else FEMALE_SECOND)
            if second != first:
                return [first, second]
        return [first]

    def birth(self, lo: int = 1950, hi: int = 2004) -> tuple[int, int, int]:
        return (self.rng.randint(lo, hi), self.rng.randint(1, 12), self.rng.randint(1, 28))

    def ident(self) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(10))

    def person(self) -> Person:
        sex = self.rng.choice("MF")
        country = "mx" if self.rng.random() < 0.8 else "us"
        ident = self.ident() if self.rng.random() < 0.3 else ""
        return Person(self.given(sex), self.surname(), self.surname(), sex, self.birth(), country, ident)

    def sibling(self, p: Person, twin: bool) -> Person:
        sex = self.rng.choice("MF")
        given = self.given(sex)
        while given[0] == p.given[0] or given[0] in HYPOCORISMS.get(p.given[0], []):
            given = self.given(sex)
        if twin:
            birth = p.birth
        else:
            year = p.birth[0] + self.rng.choice([-1, 1]) * self.rng.randint(1, 6)
            birth = (year, self.rng.randint(1, 12), self.rng.randint(1, 28))
        return Person(given, p.paternal, p.maternal, sex, birth, p.country, "")

    def namesake(self, p: Person) -> Person:
        """A father or son of the same full name, born 25 to 40 years apart."""
        gap = self.rng.randint(25, 40)
        year = p.birth[0] + gap if p.birth[0] + gap <= 2006 else p.birth[0] - gap
        birth = (year, self.rng.randint(1, 12), self.rng.randint(1, 28))
        return Person(list(p.given), p.paternal, p.maternal, p.sex, birth, p.country, "")

    # --- writing records --------------------------------------------------------------------------------------
    def typo(self, word: str) -> str:
        rng = self.rng
        if len(word) < 3:
            return word
        i = rng.randrange(1, len(word))  # clerks rarely get the first letter wrong
        kind = rng.choice(("insert", "delete", "transpose", "substitute"))
        if kind == "insert":
            return word[:i] + rng.choice(_LETTERS) + word[i:]
        if kind == "delete":
            return word[:i] + word[i + 1 :]
        if kind == "transpose" and i < len(word) - 1:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        return word[:i] + rng.choice(_LETTERS) + word[i + 1 :]

    def sound_swap(self, word: str) -> str:
        lower = word.lower()
        options = [(a, b) for a, b in SOUND_SWAPS if a in lower[1:]]
        if not options:
            return word
        a, b = self.rng.choice(options)
        index = lower.index(a, 1)
        return word[:index] + b + word[index + len(a) :]

    def write_name(self, p: Person, noisy: bool) -> str:
        rng = self.rng
        given = list(p.given)
        paternal, maternal = p.paternal, p.maternal
        nickname = ""
        if noisy:
            if len(given) > 1 and rng.random() < 0.12:
                given = [given[0]]
            if rng.random() < 0.10 and given[0] in HYPOCORISMS:
                given = [rng.choice(HYPOCORISMS[given[0]]), *given[1:]]
            if rng.random() < 0.15:
                maternal = ""
            if rng.random() < 0.5:
                paternal = paternal.replace("de la ", "").replace("del ", "").replace("de los ", "")
                paternal = paternal.replace("de ", "")
            if rng.random() < 0.03:
                nickname = rng.choice(NICKNAMES)
            words = [*given, paternal, maternal]
            if rng.random() < 0.10:
                index = rng.randrange(len(words))
                if words[index]:
                    words[index] = self.sound_swap(words[index])
            edits = rng.choices((0, 1, 2), (0.72, 0.22, 0.06))[0]
            for _ in range(edits):
                index = rng.randrange(len(words))
                if words[index] and " " not in words[index]:
                    words[index] = self.typo(words[index])
            given, paternal, maternal = words[: len(given)], words[-2], words[-1]
        surnames = " ".join(s for s in (paternal, maternal) if s)
        form = rng.random() if noisy else 1.0
        if nickname:
            text = f"{nickname} {paternal}"
        elif form < 0.12:
            text = f"{surnames.upper()}, {' '.join(given)}"
        elif form < 0.17:
            text = f"{surnames.upper()} {' '.join(given)}"
        else:
            text = f"{' '.join(given)} {surnames}"
        if noisy and rng.random() < 0.4:
            text = text.translate(_ACCENTS)
        if noisy and rng.random() < 0.25:
            text = text.upper()
        return text

    def write_birth(self, p: Person, noisy: bool) -> str:
        rng = self.rng
        y, m, d = p.birth
        if noisy:
            roll = rng.random()
            if roll < 0.10:
                return ""
            if roll < 0.15 and d <= 12:
                m, d = d, m
            elif roll < 0.22:
                which = rng.randrange(3)
                if which == 0:
                    y += rng.choice([-1, 1, -10, 10])
                elif which == 1:
                    m = rng.randint(1, 12)
                else:
                    d = rng.randint(1, 28)
            elif roll < 0.25:
                return f"{y:04d}"
        return f"{y:04d}-{m:02d}-{d:02d}"

    def write_ident(self, p: Person, noisy: bool) -> list[str]:
        if not p.ident or (noisy and self.rng.random() < 0.5):
            return []
        if noisy and self.rng.random() < 0.05:
            return [self.typo(p.ident)]
        return [p.ident]

    def record(self, rid: str, p: Person, noisy: bool) -> dict[str, Any]:
        country = p.country if not (noisy and self.rng.random() < 0.2) else ""
        return {
            "id": rid,
            "name": self.write_name(p, noisy),
            "birth_date": self.write_birth(p, noisy),
            "country": country,
            "ids": self.write_ident(p, noisy),
        }


def generate(
    n: int, seed: int = 0, *, match_rate: float = 0.5, hard_rate: float = 0.08, noise_left: bool = False
) -> Dataset:
    """``n`` records a side; ``match_rate`` of them are the same people on both sides (the right side written
    with noise, the left clean unless ``noise_left``); ``hard_rate`` of each side are relatives of people on
    the other side (siblings, twins, namesake parent/child) who must not be matched."""
    maker = _Maker(seed)
    n_match = int(n * match_rate)
    n_hard = int(n * hard_rate)
    people = [maker.person() for _ in range(n_match)]
    # (person, index in ``people`` when shared by both sides, kind of relative, index of the relative's kin)
    Entry = tuple[Person, int | None, str, int | None]
    left_people: list[Entry] = [(p, i, "", None) for i, p in enumerate(people)]
    right_people: list[Entry] = [(p, i, "", None) for i, p in enumerate(people)]
    for k in range(2 * n_hard if people else 0):
        kin = maker.rng.randrange(len(people))
        kind = ("sibling", "twin", "namesake")[k % 3]
        base = people[kin]
        relative = maker.namesake(base) if kind == "namesake" else maker.sibling(base, kind == "twin")
        (right_people if k % 2 == 0 else left_people).append((relative, None, kind, kin))
    while len(left_people) < n:
        left_people.append((maker.person(), None, "", None))
    while len(right_people) < n:
        right_people.append((maker.person(), None, "", None))
    maker.rng.shuffle(left_people)
    maker.rng.shuffle(right_people)
    left = [maker.record(f"L{i:07d}", e[0], noisy=noise_left) for i, e in enumerate(left_people)]
    right = [maker.record(f"R{i:07d}", e[0], noisy=True) for i, e in enumerate(right_people)]
    left_of = {e[1]: f"L{i:07d}" for i, e in enumerate(left_people) if e[1] is not None}
    right_of = {e[1]: f"R{i:07d}" for i, e in enumerate(right_people) if e[1] is not None}
    truth = {(left_of[i], right_of[i]) for i in range(len(people))}
    hard_pairs: list[tuple[str, str, str]] = []
    for i, (_p, _shared, kind, relative_of) in enumerate(left_people):
        if relative_of is not None:
            hard_pairs.append((f"L{i:07d}", right_of[relative_of], kind))
    for i, (_p, _shared, kind, relative_of) in enumerate(right_people):
        if relative_of is not None:
            hard_pairs.append((left_of[relative_of], f"R{i:07d}", kind))
    return Dataset(left, right, truth, hard_pairs)


def generate_pair_sets(
    n: int, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    """``(left, right, truth)``: two sets of ``n`` person records and the (left id, right id) pairs that are
    the same person."""
    data = generate(n, seed)
    return data.left, data.right, data.truth
