"""Screening benchmark: Alianza's ``alianza-screen-v1`` against nomenklatura's ``logic-v2`` and name-based algorithms.

A list of a few thousand made-up people with Spanish names (two surnames, compound given names, nicknames kept as
OFAC keeps weak aliases, strong aliases in ``alt.csv``) and some entities is written in OFAC's legacy CSV format
(``sdn.csv`` + ``alt.csv``). Queries are typed as analysts type them, each labelled with the entry it stands for
(or none):

positives  natural order with accents · "PATERNAL MATERNAL, Given" · lower case without accents · maternal
           surname dropped · hypocorism ("Chuy Pérez") · nickname + surname ("Mencho Oseguera") · one typo
negatives  siblings (same two surnames, another given name) · same paternal surname (another maternal surname,
           the same given name half of the time) · people not on the list

Every tool scores the same candidates: the union of Alianza's blocking and a neutral one (the entries sharing the
most words with the query), so the peers are not held back by our blocking. nomenklatura is given the entries as
OpenSanctions would model OFAC's: a Person with the name in natural order, ``firstName``/``lastName``, strong
aliases as ``alias`` and the weak a.k.a. as ``weakAlias``; the queries as a Person with the typed ``name``.

Metrics per tool, from pairs (query, entry) at or above a threshold: precision, recall and F1 at the tool's best
threshold; recall at 1% false-positive rate (the share of negative queries with any alert); recall on the
hypocorism + nickname queries at those thresholds; recall by query kind; seconds (scoring, and the whole process);
peak MiB (each tool runs in its own process). Alianza is also reported at its declared default threshold.

The rules of ``alianza-screen-v1`` were written looking at the errors on seed 2024's data; the committed table
is from seed 31337, which was not looked at while writing them (seed 7 with 5,000 people gives the same picture).

Runs in the benchmark virtualenv (``.venv-bench``: nomenklatura, followthemoney, ``pip install -e .``)::

    .venv-bench/bin/python benchmarks/matching/screening_bench.py [--people 3000] [--quick] [--output PATH]

``--quick`` (600 people, 40 queries a kind) prints its table and writes it only with ``--output``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "matching_screening.json"
PEERS = ("logic-v2", "name-based", "ofac")
NEUTRAL_CANDIDATES = 40
SUBSET = ("hypocorism", "nickname_surname")
POSITIVE_KINDS = (
    "natural",
    "ofac_order",
    "lower_no_accents",
    "dropped_maternal",
    "hypocorism",
    "nickname_surname",
    "typo",
)
NEGATIVE_KINDS = ("sibling", "same_paternal", "not_listed")

NICKNAME_WORDS = [
    "Mencho",
    "Chapo",
    "Mayo",
    "Marro",
    "Azul",
    "Gato",
    "Toro",
    "Lobo",
    "Tigre",
    "Pollo",
    "Jaguar",
    "Chino",
    "Flaco",
    "Gordo",
    "Negro",
    "Chato",
    "Mocho",
    "Compa",
    "Tuerto",
    "Pelon",
    "Cholo",
    "Zurdo",
    "Primo",
    "Contador",
    "Licenciado",
    "Ingeniero",
    "Cuate",
    "Chivo",
    "Borrego",
    "Gallo",
    "Halcon",
    "Cuervo",
    "Coyote",
    "Zorro",
    "Tejon",
    "Mapache",
    "Charro",
    "Vaquero",
    "Ranchero",
    "Padrino",
    "Patron",
    "Metro",
    "Viejo",
    "Pariente",
    "Sobrino",
    "Profe",
    "Guero",
    "Huevo",
    "Tocayo",
    "Moro",
    "Capi",
    "Jando",
    "Brujo",
    "Diablo",
    "Santo",
    "Loco",
    "Cabo",
    "Comandante",
    "Chaparro",
    "Gringo",
    "Costeño",
    "Serrano",
    "Norteño",
    "Mudo",
    "Sordo",
    "Manco",
    "Cojo",
    "Pirata",
    "Toti",
    "Chuta",
    "Cachas",
    "Kilo",
    "Delta",
    "Fresa",
    "Pitufo",
    "Enano",
    "Gigante",
    "Mono",
    "Oso",
    "Burro",
    "Caballo",
    "Perro",
    "Alacran",
    "Vibora",
    "Tiburon",
    "Pulpo",
    "Cangrejo",
    "Tlacuache",
    "Tecolote",
    "Zopilote",
    "Colibri",
    "Canelo",
    "Pinto",
    "Rojo",
    "Güero",
    "Chulo",
    "Pachuco",
    "Chamaco",
    "Morro",
    "Plebe",
    "Chacal",
    "Lince",
    "Puma",
    "Bronco",
    "Mustang",
    "Apache",
    "Comanche",
    "Yaqui",
    "Tarasco",
    "Maya",
    "Azteca",
]


# --- the list ---------------------------------------------------------------------------------------------------


@dataclass
class Listed:
    ent: int
    given: list[str]
    paternal: str
    maternal: str
    nicknames: list[str] = field(default_factory=list)
    dob: tuple[int, int, int] = (1970, 1, 1)


@dataclass
class Query:
    text: str
    kind: str
    target: int | None  # ent_num, or None for a negative


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _weights(items: list[str], exponent: float) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(len(items))]


class Maker:
    def __init__(self, seed: int) -> None:
        from alianza.matching import generator

        self.g = generator
        self.rng = random.Random(seed)
        self.surname_w = _weights(generator.SURNAMES, 0.3)
        self.male_w = _weights(generator.MALE, 0.4)
        self.female_w = _weights(generator.FEMALE, 0.4)

    def surname(self) -> str:
        if self.rng.random() < 0.03:
            return self.rng.choice(self.g.PARTICLE_SURNAMES)
        return self.rng.choices(self.g.SURNAMES, self.surname_w)[0]

    def given(self, sex: str | None = None) -> list[str]:
        sex = sex or self.rng.choice("MF")
        first = (
            self.rng.choices(self.g.MALE, self.male_w)[0]
            if sex == "M"
            else self.rng.choices(self.g.FEMALE, self.female_w)[0]
        )
        if self.rng.random() < 0.3:
            second = self.rng.choice(self.g.MALE_SECOND if sex == "M" else self.g.FEMALE_SECOND)
            if second != first:
                return [first, second]
        return [first]

    def typo(self, word: str) -> str:
        rng = self.rng
        i = rng.randrange(1, len(word))
        kind = rng.choice(("insert", "delete", "transpose", "substitute"))
        if kind == "insert":
            return word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i:]
        if kind == "delete":
            return word[:i] + word[i + 1 :]
        if kind == "transpose" and i < len(word) - 1:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        return word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i + 1 :]


def _key(given: str, paternal: str, maternal: str) -> tuple[frozenset[str], str, str]:
    from alianza.matching.names import canonical_given, normalize

    return canonical_given(normalize(given)), normalize(paternal), normalize(maternal)


def make_list(n_people: int, n_orgs: int, seed: int) -> tuple[list[Listed], bytes, bytes]:
    """sdn.csv and alt.csv in OFAC's legacy format (CRLF, ``-0-`` for empty, weak a.k.a. in the remarks)."""
    maker = Maker(seed)
    rng = maker.rng
    people: list[Listed] = []
    taken: set[tuple[str, str, str]] = set()
    nick_taken: set[tuple[str, str]] = set()
    ent = 10000
    while len(people) < n_people:
        given, paternal, maternal = maker.given(), maker.surname(), maker.surname()
        key = (_ascii(given[0]).lower(), _ascii(paternal).lower(), _ascii(maternal).lower())
        if key in taken or paternal == maternal:
            continue
        taken.add(key)
        ent += rng.randint(1, 7)
        nicknames = []
        if rng.random() < 0.4:
            # A nickname and a paternal surname together name one person on the list (as given names and both
            # surnames do): a query "Chivo Villanueva" then has one right answer.
            words = [w for w in NICKNAME_WORDS if (w, _ascii(paternal).lower()) not in nick_taken]
            if words:
                word = rng.choice(words)
                nick_taken.add((word, _ascii(paternal).lower()))
                nicknames.append(("La " if rng.random() < 0.1 else "El ") + word)
        dob = (rng.randint(1950, 1995), rng.randint(1, 12), rng.randint(1, 28))
        people.append(Listed(ent, given, paternal, maternal, nicknames, dob))
    sdn = io.StringIO()
    alt = io.StringIO()
    sdn_w = csv.writer(sdn, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    alt_w = csv.writer(alt, lineterminator="\r\n")
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    rows: list[tuple[int, list[str]]] = []
    alt_num = 1
    for p in people:
        name = f"{_ascii(p.paternal).upper()} {_ascii(p.maternal).upper()}, {_ascii(' '.join(p.given))}"
        y, m, d = p.dob
        remarks = [
            f"DOB {d:02d} {months[m - 1]} {y}",
            "POB Culiacan, Sinaloa, Mexico",
            "nationality Mexico",
            "citizen Mexico",
            "Gender " + ("Female" if p.given[0] in maker.g.FEMALE else "Male"),
        ]
        remarks += [f"a.k.a. '{_ascii(n).upper()}'" for n in p.nicknames]
        rows.append(
            (
                p.ent,
                [
                    str(p.ent),
                    name,
                    "individual",
                    "SDNTK",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "; ".join(remarks) + ".",
                ],
            )
        )
        roll = rng.random()
        if roll < 0.3:
            short = f"{_ascii(p.paternal).upper()}, {_ascii(p.given[0])}"
            alt_w.writerow([p.ent, alt_num, "aka", short, "-0- "])
            alt_num += 1
        elif roll < 0.45:
            other = Maker(rng.randint(0, 10**9))
            fake = f"{_ascii(other.surname()).upper()} {_ascii(other.surname()).upper()}, {_ascii(p.given[0])}"
            alt_w.writerow([p.ent, alt_num, "aka", fake, "-0- "])
            alt_num += 1
    words = [
        "Comercializadora",
        "Inmobiliaria",
        "Transportes",
        "Servicios",
        "Grupo",
        "Constructora",
        "Agricola",
        "Farmacias",
        "Casa de Cambio",
        "Minera",
        "Exportadora",
        "Hoteles",
    ]
    for _ in range(n_orgs):
        ent += rng.randint(1, 7)
        name = f"{rng.choice(words)} {_ascii(maker.surname())} {_ascii(maker.surname())}, S.A. de C.V.".upper()
        rows.append(
            (
                ent,
                [
                    str(ent),
                    name,
                    "-0- ",
                    "SDNTK",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "Folio Mercantil No. 12345 (Mexico).",
                ],
            )
        )
    for _, row in sorted(rows):
        sdn_w.writerow(row)
    sdn.write("\x1a")
    return people, sdn.getvalue().encode("cp1252"), alt.getvalue().encode("cp1252")


def _case(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.2:
        return text.upper()
    if roll < 0.35:
        return text.lower()
    return text


def make_queries(people: list[Listed], per_kind: int, seed: int) -> list[Query]:
    from alianza.matching.names import same_given_name

    maker = Maker(seed)
    rng = maker.rng
    hypos = maker.g.HYPOCORISMS
    listed = {_key(p.given[0], p.paternal, p.maternal) for p in people}
    listed_pairs = {(k[1], k[2]) for k in listed}
    queries: list[Query] = []

    def full(p: Listed, given: list[str] | None = None, maternal: bool = True) -> str:
        words = [*(given or p.given), p.paternal, *([p.maternal] if maternal else [])]
        return " ".join(words)

    def pick(pred: Any) -> Listed:
        while True:
            p = rng.choice(people)
            if pred(p):
                return p

    for _ in range(per_kind):
        p = rng.choice(people)
        queries.append(Query(_case(rng, full(p)), "natural", p.ent))
        p = rng.choice(people)
        given = p.given if rng.random() < 0.7 else p.given[:1]
        queries.append(Query(f"{p.paternal.upper()} {p.maternal.upper()}, {' '.join(given)}", "ofac_order", p.ent))
        p = rng.choice(people)
        queries.append(Query(_ascii(full(p)).lower(), "lower_no_accents", p.ent))
        p = rng.choice(people)
        queries.append(Query(_case(rng, full(p, p.given[:1], maternal=False)), "dropped_maternal", p.ent))
        p = pick(lambda q: q.given[0] in hypos)
        short = rng.choice(hypos[p.given[0]])
        queries.append(Query(_case(rng, full(p, [short], maternal=rng.random() < 0.5)), "hypocorism", p.ent))
        p = pick(lambda q: bool(q.nicknames))
        nick = rng.choice(p.nicknames)
        word = nick.split(" ", 1)[1] if nick.startswith(("El ", "La ")) else nick
        roll = rng.random()
        text = (
            f"{nick} {p.paternal}"
            if roll < 0.3
            else (f"{word} {p.paternal}" if roll < 0.8 else f"{word} {p.paternal} {p.maternal}")
        )
        queries.append(Query(_case(rng, text), "nickname_surname", p.ent))
        p = rng.choice(people)
        words = full(p, p.given[:1], maternal=rng.random() < 0.7).split()
        candidates = [i for i, w in enumerate(words) if len(w) >= 4]
        i = rng.choice(candidates)
        words[i] = maker.typo(words[i])
        queries.append(Query(_case(rng, " ".join(words)), "typo", p.ent))
    # negatives
    made = Counter[str]()
    while made["sibling"] < per_kind:
        p = rng.choice(people)
        given = maker.given()
        if any(same_given_name(_ascii(given[0]), _ascii(g)) for g in p.given):
            continue
        if _key(given[0], p.paternal, p.maternal) in listed:
            continue
        text = full(p, given) if rng.random() < 0.7 else f"{p.paternal.upper()} {p.maternal.upper()}, {given[0]}"
        queries.append(Query(_case(rng, text), "sibling", None))
        made["sibling"] += 1
    while made["same_paternal"] < per_kind:
        p = rng.choice(people)
        maternal = maker.surname()
        if _ascii(maternal).lower() == _ascii(p.maternal).lower() or maternal == p.paternal:
            continue
        given = p.given[:1] if rng.random() < 0.5 else maker.given()
        if _key(given[0], p.paternal, maternal) in listed:
            continue
        queries.append(Query(_case(rng, " ".join([*given, p.paternal, maternal])), "same_paternal", None))
        made["same_paternal"] += 1
    while made["not_listed"] < per_kind:
        given, paternal, maternal = maker.given(), maker.surname(), maker.surname()
        key = _key(given[0], paternal, maternal)
        if key in listed or (key[1], key[2]) in listed_pairs:
            continue
        queries.append(Query(_case(rng, " ".join([*given, paternal, maternal])), "not_listed", None))
        made["not_listed"] += 1
    rng.shuffle(queries)
    return queries


# --- the tools (each in its own process) --------------------------------------------------------------------------


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_alianza(data: Path) -> dict[str, Any]:
    """Parse the OFAC files, build the index, screen every query; scores of every candidate (threshold 0)."""
    from alianza.matching.lists import ListFile, parse_list
    from alianza.matching.screening import ALGORITHM, DEFAULT_THRESHOLD, ScreeningIndex, Subject

    queries = json.loads((data / "queries.json").read_text())
    start = time.perf_counter()
    parsed = parse_list([ListFile.read(data / "sdn.csv"), ListFile.read(data / "alt.csv")], name="bench")
    index = ScreeningIndex(parsed.entries, version=parsed.version)
    built = time.perf_counter()
    scores: list[dict[str, float]] = []
    for q in queries:
        hits = index.screen(Subject(names=(q["text"],)), threshold=0.0, limit=None)
        scores.append({h.entry.external_id: round(h.score, 6) for h in hits})
    end = time.perf_counter()
    return {
        "algorithm": ALGORITHM,
        "default_threshold": DEFAULT_THRESHOLD,
        "entries": len(parsed.entries),
        "index_seconds": built - start,
        "seconds": end - start,
        "scores": scores,
        "peak_mib": _peak_mib(),
    }


def _natural(name: str) -> tuple[str, str, str]:
    """OFAC's "LAST, First" as OpenSanctions writes it ("First LAST"), with the parts."""
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
        return f"{first} {last}", first, last
    return name, "", ""


def run_peer(data: Path, algorithm: str) -> dict[str, Any]:
    from followthemoney import model
    from nomenklatura.matching import get_algorithm

    from alianza.matching.lists import ListFile, parse_list
    from alianza.matching.names import normalize

    algo = get_algorithm(algorithm)
    assert algo is not None, algorithm
    config = algo.default_config()
    queries = json.loads((data / "queries.json").read_text())
    candidates = json.loads((data / "candidates.json").read_text())
    parsed = parse_list([ListFile.read(data / "sdn.csv"), ListFile.read(data / "alt.csv")], name="bench")
    entities: dict[str, Any] = {}
    start = time.perf_counter()
    for entry in parsed.entries:
        entity = model.make_entity(entry.schema)
        entity.id = f"ofac-{entry.external_id}"
        name, first, last = _natural(entry.names[0])
        entity.add("name", name)
        if entry.is_person:
            entity.add("firstName", first or None)
            entity.add("lastName", last or None)
            entity.add("birthDate", list(entry.birth_dates))
            entity.add("nationality", list(entry.nationalities))
            entity.add("weakAlias", list(entry.weak_aliases))
        entity.add("alias", [_natural(a)[0] for a in entry.names[1:]])
        entities[entry.external_id] = entity
    # Warm the algorithm up (nomenklatura loads its name data on first use): not timed.
    warm_start = time.perf_counter()
    warm = model.make_entity("Person")
    warm.id = "warm"
    warm.add("name", "Juan Perez Lopez")
    algo.compare(warm, next(iter(entities.values())), config)
    warm_seconds = time.perf_counter() - warm_start
    # The neutral blocking: entries sharing the most words with the query.
    words: dict[str, list[str]] = defaultdict(list)
    for ext, entry in ((e.external_id, e) for e in parsed.entries):
        for word in {w for n in (*entry.names, *entry.weak_aliases) for w in normalize(n).split() if len(w) >= 3}:
            words[word].append(ext)
    built = time.perf_counter()
    scores: list[dict[str, float]] = []
    pairs = 0
    for k, q in enumerate(queries):
        shared: Counter[str] = Counter()
        for word in {w for w in normalize(q["text"]).split() if len(w) >= 3}:
            shared.update(words.get(word, ()))
        pool = set(candidates[k]) | {ext for ext, _ in shared.most_common(NEUTRAL_CANDIDATES)}
        query = model.make_entity("Person")
        query.id = f"q{k}"
        query.add("name", q["text"])
        out: dict[str, float] = {}
        for ext in pool:
            entity = entities[ext]
            if not entity.schema.is_a("Person"):
                continue
            out[ext] = round(float(algo.compare(query, entity, config).score), 6)
            pairs += 1
        scores.append(out)
    end = time.perf_counter()
    return {
        "algorithm": algorithm,
        "entries": len(entities),
        "pairs_scored": pairs,
        "index_seconds": built - start - warm_seconds,
        "warm_up_seconds": warm_seconds,
        "seconds": end - start - warm_seconds,
        "scores": scores,
        "peak_mib": _peak_mib(),
    }


# --- metrics ----------------------------------------------------------------------------------------------------


def evaluate(queries: list[Query], scores: list[dict[str, float]], default: float | None = None) -> dict[str, Any]:
    positive = [i for i, q in enumerate(queries) if q.target is not None]
    negative = [i for i, q in enumerate(queries) if q.target is None]
    pos = np.array([scores[i].get(str(queries[i].target), 0.0) for i in positive])
    wrong = np.array(
        [s for i, q in enumerate(queries) for ext, s in scores[i].items() if q.target is None or ext != str(q.target)]
    )
    negmax = np.array([max(scores[i].values(), default=0.0) for i in negative])
    pos_sorted, wrong_sorted, neg_sorted = np.sort(pos), np.sort(wrong), np.sort(negmax)

    def at(t: float) -> dict[str, float]:
        tp = len(pos_sorted) - np.searchsorted(pos_sorted, t, "left")
        fp = len(wrong_sorted) - np.searchsorted(wrong_sorted, t, "left")
        alerts = len(neg_sorted) - np.searchsorted(neg_sorted, t, "left")
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / len(pos) if len(pos) else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "threshold": float(t),
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "fpr": float(alerts / len(negmax)) if len(negmax) else 0.0,
            "false_alerts": int(fp),
        }

    thresholds = np.unique(np.concatenate([pos, wrong, negmax]))
    thresholds = thresholds[thresholds > 0]
    rows = [at(float(t)) for t in thresholds]
    best = max(rows, key=lambda r: (r["f1"], -r["threshold"])) if rows else at(1.0)
    ok = [r for r in rows if r["fpr"] <= 0.01]
    at_fpr = min(ok, key=lambda r: r["threshold"]) if ok else at(float("inf"))

    def kind_recall(t: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind in POSITIVE_KINDS:
            idx = [k for k, i in enumerate(positive) if queries[i].kind == kind]
            out[kind] = float(np.mean(pos[idx] >= t)) if idx else 0.0
        for kind in NEGATIVE_KINDS:
            idx = [k for k, i in enumerate(negative) if queries[i].kind == kind]
            out[f"{kind} (alert rate)"] = float(np.mean(negmax[idx] >= t)) if idx else 0.0
        return out

    def subset_recall(t: float) -> float:
        idx = [k for k, i in enumerate(positive) if queries[i].kind in SUBSET]
        return float(np.mean(pos[idx] >= t)) if idx else 0.0

    result: dict[str, Any] = {
        "best": best | {"hypocorism_nickname_recall": subset_recall(best["threshold"])},
        "at_1pct_fpr": at_fpr | {"hypocorism_nickname_recall": subset_recall(at_fpr["threshold"])},
        "by_kind_at_best": kind_recall(best["threshold"]),
    }
    if default is not None:
        result["at_default"] = at(default) | {"hypocorism_nickname_recall": subset_recall(default)}
        result["by_kind_at_default"] = kind_recall(default)
    return result


# --- driver -----------------------------------------------------------------------------------------------------


def worker(tool: str, data: Path) -> None:
    result = run_alianza(data) if tool == "alianza" else run_peer(data, tool)
    (data / f"{tool}.json").write_text(json.dumps(result))


def _spawn(tool: str, data: Path) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    env = os.environ | {"PYTHONHASHSEED": "0"}
    subprocess.run([sys.executable, __file__, "--worker", tool, "--data", str(data)], check=True, env=env)
    return json.loads((data / f"{tool}.json").read_text()), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--orgs", type=int, default=300)
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--seed", type=int, default=31337)
    parser.add_argument("--quick", action="store_true", help="a small run: 600 people, 40 queries a kind")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--output", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data)
        return
    if args.quick:
        args.people, args.orgs, args.per_kind = 600, 60, 40
    # A quick run is a smoke test: it writes its table only where told to.
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    people, sdn, alt = make_list(args.people, args.orgs, args.seed)
    queries = make_queries(people, args.per_kind, args.seed + 1)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="screening-bench-") as tmp:
        data = Path(tmp)
        (data / "sdn.csv").write_bytes(sdn)
        (data / "alt.csv").write_bytes(alt)
        (data / "queries.json").write_text(json.dumps([asdict(q) for q in queries], ensure_ascii=False))
        ours, process = _spawn("alianza", data)
        (data / "candidates.json").write_text(json.dumps([sorted(s) for s in ours["scores"]]))
        results["alianza"] = _summary(ours, process, evaluate(queries, ours["scores"], ours["default_threshold"]))
        print(_line("alianza", results["alianza"]), flush=True)
        for peer in [p for p in args.peers.split(",") if p]:
            out, process = _spawn(peer, data)
            results[peer] = _summary(out, process, evaluate(queries, out["scores"]))
            print(_line(peer, results[peer]), flush=True)
    peers = {k: v for k, v in results.items() if k != "alianza"}
    best_peer = max(peers, key=lambda k: peers[k]["best"]["f1"]) if peers else None
    report = {
        "benchmark": "sanctions screening of typed names against an OFAC-format list (query-entry pairs)",
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "data": {
            "seed": args.seed,
            "listed_people": args.people,
            "listed_entities": args.orgs,
            "queries": len(queries),
            "queries_by_kind": dict(Counter(q.kind for q in queries)),
            "format": "OFAC legacy CSV (sdn.csv + alt.csv), weak a.k.a. in the remarks",
            "candidates": "union of Alianza's blocking and the "
            f"{NEUTRAL_CANDIDATES} entries sharing most words with the query",
        },
        "results": results,
    }
    if best_peer:
        ours_best, theirs = results["alianza"], results[best_peer]
        report["vs_best_peer"] = {
            "peer": best_peer,
            "f1_ratio": ours_best["best"]["f1"] / max(theirs["best"]["f1"], 1e-9),
            "recall_at_1pct_fpr": [ours_best["at_1pct_fpr"]["recall"], theirs["at_1pct_fpr"]["recall"]],
            "hypocorism_nickname_recall_at_best": [
                ours_best["best"]["hypocorism_nickname_recall"],
                max(p["best"]["hypocorism_nickname_recall"] for p in peers.values()),
            ],
            "seconds_ratio": ours_best["seconds"] / max(theirs["seconds"], 1e-9),
        }
        print(json.dumps(report["vs_best_peer"], indent=2))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")


def _summary(out: dict[str, Any], process: float, metrics: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in out.items() if k != "scores"}
    return keep | {"process_seconds": process} | metrics


def _line(tool: str, r: dict[str, Any]) -> str:
    b, f = r["best"], r["at_1pct_fpr"]
    return (
        f"{tool:12} best F1 {b['f1']:.3f} (P {b['precision']:.3f} R {b['recall']:.3f} @ {b['threshold']:.3f})  "
        f"recall@1%FPR {f['recall']:.3f}  hypo+nick {b['hypocorism_nickname_recall']:.3f}  "
        f"{r['seconds']:.1f}s  {r['peak_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
