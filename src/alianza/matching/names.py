"""Name normalisation for Spanish and English names of people and companies.

Public API (stable: ``matching.bloom`` / ``matching.private`` and the resolver build on it):

``normalize(text) -> str``
    Casefold, strip accents (ñ→n, ü→u, any script transliterated to ASCII), turn punctuation into spaces,
    collapse whitespace. ``normalize("  PÉREZ-Núñez, José ") == "perez nunez jose"``.
``person_name_parts(text) -> NameParts``
    Split a person's name into given names, paternal and maternal surname. Reads "SURNAME SURNAME, Given"
    (comma) and "PÉREZ LÓPEZ Juan" (surnames in capitals first, as Mexican documents write them); keeps
    compound given names ("José Luis", "María de los Ángeles"); attaches particles (de, del, de la, de los,
    de las, y) to the surname that follows and reports them in ``particles_dropped``; a leading nickname with
    an article ("El Güero Pérez") goes to ``alias``. Every field is normalised.
``name_keys(text) -> set[str]``
    Blocking keys: paternal (and maternal) surname's Spanish phonetic key + the phonetic key of each formal
    form of the first given name (so "Pepe" blocks with "José"); both surnames' keys together (any given
    name); the given name + the paternal surname's first three letters (surname typos); the sorted words
    (order swaps). Keyed on the whole given name rather than its initial: with Mexican name frequencies an
    initial makes blocks of millions of pairs at 100,000 records; given-name typos are caught by the keys
    that leave the given name out.
``expand_hypocorisms(given) -> set[str]``
    The given name and its hypocorisms, both ways: "francisco" → {francisco, paco, pancho, curro, ...};
    "paco" → {paco, francisco, ...}. ``same_given_name(a, b)`` tells if two given names can be the same
    person's (a hypocorism shared by two formal names, e.g. "beto" for Roberto and Alberto, does not make
    Roberto and Alberto the same).
``strip_alias_article(text) -> str``
    "El Mencho" → "mencho". Nicknames are aliases, not hypocorisms ("El Chapo" is no form of Joaquín).
``company_name(text) -> str``
    Normalised company name without its legal form (S.A. de C.V., S. de R.L. de C.V., S.A.P.I. de C.V., S.C.,
    A.C., LLC, Inc., Corp., Ltd., Co., and the forms ``rigour`` knows).
``phonetic(token) -> str``
    A Spanish phonetic key (b/v, s/z/c+e,i, ll/y, silent h, qu/k/c+a,o,u, g+e,i/j, x/j as in México).

Every function is pure and cached where that pays: the resolver calls them once per record.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from rigour.names import remove_org_types, remove_person_prefixes
from rigour.text import ascii_text

__all__ = [
    "NameParts",
    "canonical_given",
    "company_name",
    "expand_hypocorisms",
    "keys_of",
    "name_keys",
    "normalize",
    "person_name_parts",
    "phonetic",
    "same_given_name",
    "strip_alias_article",
]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_QUOTED = re.compile(r"[\"“”«»(\[].*?[\"“”«»)\]]")


@lru_cache(maxsize=200_000)
def normalize(text: str) -> str:
    """Casefolded ASCII words separated by single spaces; the common form every comparison starts from."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if not stripped.isascii():
        stripped = ascii_text(stripped).casefold()
    return _NON_ALNUM.sub(" ", stripped).strip()


# --- particles, titles, articles --------------------------------------------------------------------------

PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "e", "van", "von", "der", "da", "di", "dos", "das"})
# Titles and honorifics written before names in Mexican and US records; dropped before parsing.
TITLES = frozenset(
    {
        "sr", "sra", "srta", "don", "dona", "lic", "licenciado", "licenciada", "ing", "ingeniero", "dr", "dra",
        "doctor", "doctora", "mtro", "mtra", "prof", "profa", "c", "gral", "general", "cap", "capitan", "tte",
        "mr", "mrs", "ms", "miss", "mx", "sir",
    }
)  # fmt: skip
ALIAS_ARTICLES = frozenset({"el", "la", "los", "las", "the"})

# Complements that follow "María de ..." / "José de ..." and belong to the given name, not to a surname.
MARIAN_COMPLEMENTS = frozenset(
    {
        "angeles", "luz", "lourdes", "carmen", "guadalupe", "rosario", "dolores", "remedios", "paz", "mercedes",
        "pilar", "socorro", "consuelo", "fatima", "jesus", "asuncion", "concepcion", "refugio", "soledad",
        "esperanza", "gracia", "montserrat", "rocio", "mar", "cielo", "lorena", "nieves", "begona", "alba",
        "aranzazu", "covadonga", "pena", "fe", "gloria", "luján", "lujan", "sagrario", "milagros", "salud",
        "monte", "candelaria",
    }
)  # fmt: skip

# Given names common in Mexico and the US. Used only to decide, in "José Luis Pérez", that the second word is a
# second given name and not a paternal surname. Names that are also frequent surnames are left out on purpose.
GIVEN_NAMES = frozenset(
    """
    adolfo adriana adrian agustin aida alberto alejandra alejandro alexis alfonso alfredo alicia alma alonso
    alvaro amalia ana andrea andres angel angela angelica antonia antonio araceli armando arturo aurora
    beatriz benjamin bernardo berta blanca brenda carla carlos carmen carolina catalina cecilia cesar
    claudia concepcion consuelo cristian cristina daniel daniela david diana diego dolores edgar eduardo
    elena elizabeth elsa emilio enrique ernesto esperanza esteban estela eugenia eva fabiola federico felipe
    fernanda fernando francisca francisco gabriel gabriela gerardo gilberto gloria graciela guadalupe
    guillermo gustavo hector hilda hugo humberto ignacio irene irma isabel ismael ivan jaime javier jesus
    joaquin jorge jose josefina juan juana julia julian julio karina karla laura leonardo leticia lilia
    liliana lorena lourdes lucia luis luisa luz manuel manuela marcela marco marcos margarita maria mariana
    mario marisol marta martha mauricio mercedes miguel miriam monica nancy natalia norma octavio olga omar
    oscar pablo patricia paola pedro pilar rafael raquel raul refugio ricardo roberto rocio rodolfo rogelio
    rosa rosario ruben salvador samuel sandra santiago sara sergio silvia socorro sofia susana teresa tomas
    ulises valeria veronica victor victoria virginia ximena yolanda abigail abraham adela agustina alan
    alicia alondra araceli axel bruno camila cinthia cynthia dulce edith efrain eloy emiliano emmanuel erick
    erika esther fatima fidel genaro gonzalo gregorio homero ingrid irving isaac israel itzel jacqueline
    jazmin jonathan josue karen kevin leonel lizbeth lucero marisela maricela mayra melissa misael moises
    nadia nayeli noe noemi osvaldo pamela perla ramiro regina reyna rigoberto rosalba sebastian selena tania
    uriel vanessa wendy yesenia zoe john james robert michael william david richard joseph thomas charles
    christopher daniel matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george
    timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott
    brandon benjamin samuel mary patricia jennifer linda barbara elizabeth susan jessica sarah karen lisa
    nancy betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah
    stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen
    samantha
    """.split()  # noqa: SIM905
)

# Surnames frequent in Mexico and among Hispanic Americans. Used to tell the order of a name written without a
# comma or capitals ("HERNANDEZ LOPEZ JUAN" vs "JUAN HERNANDEZ LOPEZ") and to read an ambiguous word as a surname.
COMMON_SURNAMES = frozenset(
    """
    hernandez garcia martinez lopez gonzalez perez rodriguez sanchez ramirez cruz flores gomez morales
    vazquez reyes jimenez torres diaz gutierrez ruiz mendoza aguilar ortiz moreno castillo romero alvarez
    mendez chavez rivera juarez ramos dominguez herrera medina castro vargas guzman velazquez rojas
    contreras salazar luna ortega santiago guerrero estrada bautista cortes soto alvarado espinoza lara
    avila rios cervantes silva delgado vega marquez sandoval carrillo leon mejia solis nunez rosas
    valdez ibarra campos cardenas navarro figueroa pena cabrera molina fuentes rosales acosta escobar
    pacheco salinas maldonado miranda valencia trejo velasco zamora galvan montes robles tapia camacho
    ochoa villanueva zuniga beltran quintero orozco arellano zavala villegas padilla sosa esquivel benitez
    lozano osorio barrera ponce cano ayala rangel meza cisneros marin bravo serrano olvera montoya arias
    ornelas saucedo quiroz hidalgo yanez ybarra llamas villasenor bustamante gallegos zepeda arroyo vallejo
    sepulveda quinones huerta gil peralta aguirre alonso andrade avalos barajas becerra bernal blanco
    calderon carmona castaneda cazares cordova corona coronado correa davila duarte duran enriquez
    escamilla espinosa esparza estrella farias fernandez franco galindo gallardo gamez gaona garza godinez
    granados guevara guillen gurrola hinojosa jaramillo lira lugo macias magana mata mercado mora
    munoz murillo nava nieto olivares olmos oropeza ortega osuna pantoja paredes parra pineda quezada
    ramos razo renteria rincon rivas rocha rubio salas salgado sanabria santana santos segura sierra
    solano suarez tovar trevino uribe valadez valenzuela varela vera villa villarreal zapata zarate
    smith johnson williams brown jones miller davis wilson anderson taylor thomas moore jackson white
    harris thompson clark lewis robinson walker young allen king wright scott hill green adams baker
    """.split()  # noqa: SIM905
)


# --- hypocorisms --------------------------------------------------------------------------------------------

# Formal name → its hypocorisms. Both directions are derived from this one table.
HYPOCORISMS: dict[str, tuple[str, ...]] = {
    "francisco": ("paco", "pancho", "curro", "paquito", "panchito", "frank", "kiko", "cisco"),
    "francisca": ("paca", "pancha", "paquita", "panchita", "kika"),
    "jose": ("pepe", "chepe", "pepito", "joselito", "chepo", "joe"),
    "josefa": ("pepa", "chepa", "pepita"),
    "josefina": ("pepa", "chepina", "fina"),
    "jesus": ("chuy", "chucho", "chuyito", "jesusito"),
    "guadalupe": ("lupe", "pita", "lupita", "lupillo", "lupito"),
    "ignacio": ("nacho", "nachito", "iggy"),
    "enrique": ("quique", "kike", "henry"),
    "alfonso": ("poncho", "ponchito", "alfo"),
    "roberto": ("beto", "robert", "bob", "betito", "tito"),
    "alberto": ("beto", "betito", "tito", "al"),
    "humberto": ("beto", "tito"),
    "heriberto": ("beto", "heri"),
    "gilberto": ("beto", "gil"),
    "norberto": ("beto",),
    "rigoberto": ("rigo", "beto"),
    "rafael": ("rafa", "rafita", "rafi"),
    "manuel": ("manolo", "meme", "manny", "manu", "nolo"),
    "eduardo": ("lalo", "edu", "eddie", "lalito"),
    "refugio": ("cuco", "cuca", "cuquita", "cuquito"),
    "concepcion": ("concha", "conchita", "chona", "conche"),
    "dolores": ("lola", "lolita", "loli"),
    "rosario": ("chayo", "chayito", "charo"),
    "luis": ("guicho", "wicho", "luisito"),
    "gerardo": ("jerry", "gera", "lalo"),
    "guillermo": ("memo", "william", "willy", "guille"),
    "antonio": ("tono", "tony", "tonio", "antonito"),
    "fernando": ("nando", "fer", "fercho"),
    "alejandro": ("alex", "jando", "ale"),
    "alejandra": ("ale", "alex", "jandra"),
    "gonzalo": ("chalo",),
    "salvador": ("chava", "chavo", "salva"),
    "isabel": ("chabela", "isa", "chavela", "chabe"),
    "gregorio": ("goyo",),
    "margarita": ("mago", "magos", "margara", "maggie"),
    "santiago": ("chago", "santi"),
    "anastasio": ("tacho",),
    "carlos": ("charly", "carlitos", "charlie"),
    "mercedes": ("meche", "merche", "mecha"),
    "socorro": ("coco", "coquis"),
    "soledad": ("chole", "sole"),
    "consuelo": ("chelo", "chela"),
    "graciela": ("chela", "gracie"),
    "luisa": ("licha", "luichi"),
    "alicia": ("licha", "ali"),
    "pedro": ("perico", "pete", "pedrito"),
    "andres": ("andy",),
    "natalia": ("naty", "nati"),
    "beatriz": ("bety", "betty", "bea"),
    "patricia": ("paty", "patty", "pati"),
    "elizabeth": ("eli", "liz", "lisa", "betty"),
    "teresa": ("tere", "techa", "teté"),
    "daniel": ("dani", "danny"),
    "alfredo": ("fredy", "freddy", "alfre"),
    "federico": ("fede", "kiko"),
    "ernesto": ("neto", "ernie"),
    "rodolfo": ("fito", "rudy", "rodo"),
    "adolfo": ("fito",),
    "jorge": ("coque", "george"),
    "agustin": ("tin", "agus"),
    "javier": ("javi", "xavi"),
    "vicente": ("chente",),
    "ezequiel": ("cheque", "chequel"),
    "celestino": ("tino",),
    "florentino": ("tino",),
    "valentin": ("vale", "tin"),
    "benjamin": ("benja", "mincho", "ben"),
    "cristina": ("cris", "tina"),
    "leticia": ("lety", "leti"),
    "ricardo": ("richi", "ricky", "rich"),
    "baltazar": ("balta",),
    "maria jose": ("majo",),
    "maria fernanda": ("marifer",),
    "maria luisa": ("malu", "marilu"),
    "maria eugenia": ("maru",),
    "maria guadalupe": ("lupita", "lupe"),
    "maria de jesus": ("chuyita",),
    "jose maria": ("chema",),
    "jose luis": ("pepe luis", "joseluis", "joselu"),
    "juan carlos": ("juanca",),
    "maria teresa": ("maite", "tere"),
    "maria del carmen": ("maricarmen", "mamen", "carmen"),
    "maria de los angeles": ("marian", "angeles", "angie"),
    "maria del rosario": ("chayo", "charo"),
    "maria de la luz": ("luz", "lucha"),
    "carmen": ("carmelita", "mela"),
    "ramon": ("moncho", "mon"),
    "juan": ("juanito", "juancho", "john", "johnny"),
    "juana": ("juanita",),
    "miguel": ("mike", "miguelito"),
    "arturo": ("arturito", "tury"),
    "joaquin": ("quino", "joaco"),
    "sergio": ("checo",),
    "cecilia": ("chechi", "ceci"),
    "rogelio": ("roger", "yeyo"),
    "silvia": ("silvi",),
    "armando": ("mando",),
    "aurelio": ("yeyo",),
    "emilio": ("milo",),
    "ismael": ("mayelo",),
    "lourdes": ("lulu",),
    "william": ("bill", "billy", "will", "willy"),
    "robert": ("bob", "bobby", "rob", "robbie"),
    "richard": ("dick", "rick", "ricky", "rich"),
    "james": ("jim", "jimmy", "jamie"),
    "michael": ("mike", "mikey", "mick"),
    "thomas": ("tom", "tommy"),
    "joseph": ("joe", "joey"),
    "john": ("johnny", "jack"),
    "margaret": ("peggy", "maggie", "meg"),
    "catherine": ("kate", "cathy", "katie"),
}


def _hypocorism_index() -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for formal, shorts in HYPOCORISMS.items():
        index.setdefault(formal, set()).add(formal)
        for short in shorts:
            index.setdefault(normalize(short), set()).add(formal)
    return {name: frozenset(formals) for name, formals in index.items()}


_FORMALS_OF = _hypocorism_index()


@lru_cache(maxsize=50_000)
def canonical_given(given: str) -> frozenset[str]:
    """The formal names ``given`` can stand for (itself when it is a formal name or unknown)."""
    key = normalize(given)
    formals = _FORMALS_OF.get(key)
    if formals is None:
        return frozenset({key})
    if key in HYPOCORISMS:
        return formals | {key}
    return formals


def expand_hypocorisms(given: str) -> set[str]:
    """``given`` with its formal names and all their hypocorisms: every spelling the same person may use."""
    return set(_expand(normalize(given)))


@lru_cache(maxsize=50_000)
def _expand(key: str) -> frozenset[str]:
    out = {key}
    for formal in canonical_given(key):
        out.add(formal)
        out.update(normalize(s) for s in HYPOCORISMS.get(formal, ()))
    return frozenset(out)


def same_given_name(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` can be the same person's given name (equal, or a hypocorism of one formal)."""
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return False
    return na == nb or bool(canonical_given(na) & canonical_given(nb))


# --- aliases and companies ----------------------------------------------------------------------------------


def strip_alias_article(text: str) -> str:
    """A nickname without its leading article: "El Mencho" → "mencho", "La Tuta" → "tuta"."""
    words = normalize(text).split()
    while len(words) > 1 and words[0] in ALIAS_ARTICLES:
        words = words[1:]
    return " ".join(words)


# Legal forms as normalised token sequences, longest first so "s de rl de cv" wins over "de cv".
_LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(
    sorted(
        (
            tuple(form.split())
            for form in (
                "s a de c v", "sa de cv", "s a b de c v", "sab de cv", "s a p i de c v", "sapi de cv",
                "s a p i b de c v", "sapib de cv", "s de r l de c v", "s de rl de cv", "srl de cv", "s de r l",
                "s de rl", "s en c", "s en c s", "s c", "sc", "a c", "ac", "s a", "sa", "s c p", "scp",
                "sociedad anonima de capital variable", "sociedad anonima", "sociedad civil", "asociacion civil",
                "sociedad de responsabilidad limitada de capital variable", "sociedad de responsabilidad limitada",
                "de c v", "de cv", "cv", "sofom", "sofom e n r", "sofom enr", "sofom e r", "ipab",
                "llc", "l l c", "inc", "incorporated", "corp", "corporation", "ltd", "limited", "co", "company",
                "plc", "lp", "llp", "l p", "l l p", "gmbh", "ag", "bv", "b v", "nv", "n v", "srl", "spa", "s p a",
                "sl", "s l", "sas", "s a s", "pllc", "pc",
            )
        ),
        key=len,
        reverse=True,
    )
)  # fmt: skip


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    """Remove legal-form sequences at the end of the name (repeatedly: "Foo Co. Ltd." → "foo")."""
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        for form in _LEGAL_FORMS:
            if len(tokens) > len(form) and tuple(tokens[-len(form) :]) == form:
                tokens = tokens[: -len(form)]
                changed = True
                break
    return tokens


@lru_cache(maxsize=100_000)
def company_name(text: str) -> str:
    """A company's name as compared: normalised, without its legal form (trailing, or one ``rigour`` knows)."""
    # "S.A. de C.V." normalises to "s a de c v": the dotted and the undotted spellings are both listed.
    tokens = _strip_legal_forms(normalize(text).split())
    name = " ".join(tokens)
    reduced = normalize(remove_org_types(name))
    return reduced if reduced else name


# --- Spanish phonetic key -------------------------------------------------------------------------------------

_PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"[^a-z]", ""),
        (r"ph", "f"),
        (r"ch", "C"),  # its own sound: kept apart from c and h
        (r"sh", "C"),
        (r"qu(?=[ei])", "k"),
        (r"gu(?=[ei])", "G"),  # hard g before e/i (Guerrero): marked so the next rules leave it
        (r"q", "k"),
        (r"c(?=[ei])", "s"),
        (r"cc", "ks"),
        (r"c", "k"),
        (r"z", "s"),
        (r"g(?=[ei])", "j"),
        (r"x", "j"),  # México, Xavier, Ximénez
        (r"ll", "y"),
        (r"y(?![aeiou])", "i"),  # Ybarra = Ibarra, Godoy = Godoi
        (r"h", ""),
        (r"v", "b"),
        (r"w", "b"),
        (r"nb", "mb"),
        (r"G", "g"),
        (r"C", "c"),  # only the ch/sh marker is left as a c by now
        (r"(.)\1+", r"\1"),  # double letters: Carrillo = Carillo, Sarmiento
    )
)


@lru_cache(maxsize=100_000)
def phonetic(token: str) -> str:
    """A Spanish sound key of one word: spellings a clerk writes for the same sound share a key."""
    key = normalize(token).replace(" ", "")
    for pattern, repl in _PHONETIC_RULES:
        key = pattern.sub(repl, key)
    return key


# --- person names ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameParts:
    """A person's name in parts, every part normalised; empty strings where the name does not say."""

    given: tuple[str, ...] = ()
    paternal: str = ""
    maternal: str = ""
    particles_dropped: tuple[str, ...] = ()
    alias: str = ""
    extra_surnames: tuple[str, ...] = field(default=())

    @property
    def surnames(self) -> tuple[str, ...]:
        return tuple(s for s in (self.paternal, self.maternal, *self.extra_surnames) if s)

    @property
    def given_text(self) -> str:
        return " ".join(self.given)

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every word of the name (given and surnames, without particles): the bag compared across orders."""
        words: list[str] = []
        for part in (*self.given, *self.surnames):
            words.extend(part.split())
        return tuple(words)


@dataclass
class _Unit:
    """A word of the name with the particles written before it ("de la" + "cruz")."""

    word: str
    particles: tuple[str, ...] = ()


def _units(words: list[str]) -> list[_Unit]:
    units: list[_Unit] = []
    pending: list[str] = []
    for word in words:
        if word in PARTICLES:
            pending.append(word)
            continue
        units.append(_Unit(word, tuple(pending)))
        pending = []
    if pending:
        # Particles with nothing after them ("Pérez de") are kept as a word rather than silently lost.
        units.append(_Unit(" ".join(pending)))
    return units


def _clean_words(text: str) -> tuple[list[str], str]:
    """Words of a name without quoted nicknames and titles; a quoted nickname is returned as the alias."""
    alias = ""
    quoted = _QUOTED.search(text)
    if quoted:
        alias = strip_alias_article(quoted.group(0))
        text = _QUOTED.sub(" ", text)
    words = normalize(remove_person_prefixes(text)).split()
    while len(words) > 1 and words[0] in TITLES:
        words = words[1:]
    return words, alias


def _is_given(word: str) -> bool:
    return (word in GIVEN_NAMES or word in _FORMALS_OF) and word not in COMMON_SURNAMES


def _surnames_from(units: list[_Unit]) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """Paternal, maternal, further surnames and the dropped particles, from surname units in written order."""
    particles = tuple(" ".join(u.particles) for u in units if u.particles)
    words = [u.word for u in units]
    paternal = words[0] if words else ""
    maternal = words[1] if len(words) > 1 else ""
    return paternal, maternal, tuple(words[2:]), particles


def _caps_surnames_first(text: str) -> int:
    """How many leading words are in capitals while later ones are not ("PÉREZ LÓPEZ Juan" → 2); else 0."""
    raw = [w for w in re.split(r"[\s,]+", text.strip()) if w]
    letters = [w for w in raw if any(ch.isalpha() for ch in w)]
    # An initial ("J.") is no capitalised word: only words of two letters or more tell the order.
    upper = [w.isupper() and sum(ch.isalpha() for ch in w) > 1 for w in letters]
    if not upper or all(upper) or not upper[0]:
        return 0
    count = 0
    for flag in upper:
        if not flag:
            break
        count += 1
    return count if count < len(letters) and not any(upper[count:]) else 0


def _looks_given(word: str) -> bool:
    return (word in GIVEN_NAMES or word in _FORMALS_OF) and word not in COMMON_SURNAMES


def _looks_surname(word: str) -> bool:
    return word in COMMON_SURNAMES and word not in GIVEN_NAMES


def _reads_surname_first(units: list[_Unit]) -> bool:
    """Whether a name written without comma or telling capitals reads surname first ("HERNANDEZ LOPEZ JUAN"):
    a known surname opening it and a known given name closing it outweigh the usual order's evidence."""
    if len(units) < 2:
        return False
    first, last = units[0], units[-1]
    usual = _looks_given(first.word) + (_looks_surname(last.word) or bool(last.particles and not _marian(last)))
    reversed_ = _looks_surname(first.word) + (_looks_given(last.word) or _marian(last))
    return reversed_ > usual


def _marian(unit: _Unit) -> bool:
    return bool(unit.particles) and unit.word in MARIAN_COMPLEMENTS


def _split_given_surnames(units: list[_Unit]) -> tuple[list[_Unit], list[_Unit]]:
    """Given-name units and surname units of a name written in the usual order (given names first)."""
    if len(units) <= 1:
        return units, []
    # Particle-led Marian complements belong to the given name: "María de los Ángeles", "José de Jesús".
    given_end = 1
    while given_end < len(units) - 1:
        unit = units[given_end]
        if unit.particles and unit.word in MARIAN_COMPLEMENTS and given_end < len(units) - 1:
            given_end += 1
            continue
        if not unit.particles and _is_given(unit.word) and len(units) - given_end >= 2:
            # With three words and the last two both surnames-looking, prefer surnames only if the middle
            # word is not a known given name; known given names stay given ("José Luis Pérez").
            given_end += 1
            continue
        break
    remaining = len(units) - given_end
    if remaining > 2:
        # More words than two surnames: the extra leading ones are further given names ("Ana Sofía Ruiz Paz").
        given_end = len(units) - 2
    return units[:given_end], units[given_end:]


@lru_cache(maxsize=200_000)
def person_name_parts(text: str) -> NameParts:
    """Parse a person's name; see the module docstring for the forms read."""
    if not text or not text.strip():
        return NameParts()
    raw = text.strip()
    words, alias = _clean_words(raw)
    if not words:
        return NameParts(alias=alias)
    # A leading article + word is a nickname used as a name: "El Güero Pérez" → alias "guero", surname "perez".
    if words[0] in ALIAS_ARTICLES and len(words) >= 2 and words[1] not in PARTICLES and "," not in raw:
        alias = words[1]
        rest = _units(words[2:])
        paternal, maternal, extra, particles = _surnames_from(rest)
        return NameParts((), paternal, maternal, particles, alias, extra)

    if "," in raw:
        head, _, tail = raw.partition(",")
        surname_units = _units(_clean_words(head)[0])
        given_units = _units(_clean_words(tail)[0])
    else:
        caps = _caps_surnames_first(raw)
        units = _units(words)
        if caps:
            # Count units covering the first ``caps`` written words (particles belong to their unit).
            covered, split = 0, 0
            for index, unit in enumerate(units):
                covered += len(unit.particles) + 1
                split = index + 1
                if covered >= caps:
                    break
            surname_units, given_units = units[:split], units[split:]
        elif _reads_surname_first(units):
            split = 2 if len(units) > 2 and not _is_given(units[1].word) else 1
            surname_units, given_units = units[:split], units[split:]
        else:
            given_units, surname_units = _split_given_surnames(units)
    given_particles = tuple(" ".join(u.particles) for u in given_units if u.particles)
    given = tuple(u.word for u in given_units)
    paternal, maternal, extra, particles = _surnames_from(surname_units)
    return NameParts(given, paternal, maternal, given_particles + particles, alias, extra)


def name_keys(text: str) -> set[str]:
    """Blocking keys of a person's name: two names that may be the same person share at least one."""
    return set(keys_of(person_name_parts(text)))


@lru_cache(maxsize=200_000)
def keys_of(parts: NameParts) -> frozenset[str]:
    """``name_keys`` of an already parsed name (the resolver parses once and reuses the parts)."""
    keys: set[str] = set()
    # The formal forms of the first given name, by sound: "Pepe" and "José" give the same key.
    givens = {phonetic(formal) for formal in canonical_given(parts.given[0])} if parts.given else set()
    pat = phonetic(parts.paternal) if parts.paternal else ""
    mat = phonetic(parts.maternal) if parts.maternal else ""
    for given in givens:
        if pat:
            keys.add(f"pg:{pat}:{given}")
        if mat:
            keys.add(f"pg:{mat}:{given}")  # same prefix: a dropped or swapped surname still meets
    if pat and mat:
        keys.add(f"pm:{min(pat, mat)}:{max(pat, mat)}")
    if parts.alias and pat:
        keys.add(f"pa:{pat}:{parts.alias}")
    # Given name + the paternal surname's first three letters: both surnames mistyped past their beginning.
    if parts.given and len(parts.paternal) >= 3:
        keys.update(f"gp:{phonetic(formal)}:{parts.paternal[:3]}" for formal in canonical_given(parts.given[0]))
    if not parts.surnames and parts.given:
        keys.add(f"g:{phonetic(parts.given[0])}")
    tokens = parts.tokens
    if tokens:
        keys.add("t:" + " ".join(sorted(tokens)))
    return frozenset(keys)
