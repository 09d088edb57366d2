"""Every English message a person can see has its Spanish translation, with the same placeholders.

The messages are found by reading the source with ``ast``, not by importing it, so a message on a path no
other test reaches is still checked. A message is an English template with ``{placeholders}`` that doubles as
the gettext msgid, wherever it is written:

(a) the first argument of a call to an ``AlianzaError`` subclass (the subclasses are found by following
    ``class X(Base)`` definitions in src/alianza up to ``AlianzaError``, so builtins such as ``ValueError``
    and other libraries' errors, pydantic's ``ValidationError`` among them, are left out);
(b) the second argument of ``problem(field, template, ...)`` and of its ``_problem`` aliases;
(c) the values of the module-level message tables ``NOT_SAVED`` and ``PROBLEM_MESSAGES``;
(d) the argument of ``N_(...)``, ``_(...)`` and ``gettext(...)``;
(e) the message argument of the import problem collectors: ``detail(where, field, template)`` and the
    ``add`` method of a class of src/alianza whose ``add`` takes a ``template`` or ``message`` parameter
    (``Problems.add(where, field, template)`` in records/interchange, ``_Problems.add(line, message)`` in
    cooperation/importer), when the module defines or imports that class;
(f) the ``"message"`` of a problem written as a dict literal (``{"field": ..., "message": "..."}``), which the
    web layer translates by looking the message up as a msgid;
(g) the templates of ``_CaseError`` in policy/decision_table.py, which reach the user as
    ``ConfigurationError(CASE_PREFIX + template)``: the msgid is the whole sentence;
(h) the arguments of module-level helper functions that pass one of their parameters on as the message of (a),
    (b), (e) or (g), such as ``_bad(message, **params)`` in federation/ingress.py (found, not listed).

Where a message is a module-level string constant (``ValidationError(IMPORT_REFUSED, ...)``), the constant is
resolved, also through ``from alianza... import NAME``. An f-string (or a string filled with ``.format`` or
``%``) in any of those places cannot be a msgid: ``test_no_message_is_filled_before_translation`` names it.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import alianza
from alianza.i18n import CATALOG_DIR, catalog_msgids

SRC = Path(alianza.__file__).resolve().parent
EXCLUDED_DIRS = frozenset({"locales", "migrations"})

ROOT_ERROR = "AlianzaError"
PROBLEM_CALLS = frozenset({"problem", "_problem"})
GETTEXT_CALLS = frozenset({"N_", "_", "gettext"})
DETAIL_CALLS = frozenset({"detail"})
MESSAGE_TABLES = frozenset({"NOT_SAVED", "PROBLEM_MESSAGES"})
#: Exceptions outside the ``AlianzaError`` tree whose template is re-raised behind a prefix constant of the
#: same module: (module, class) -> prefix constant.
PREFIXED_TEMPLATES = {("alianza.policy.decision_table", "_CaseError"): "CASE_PREFIX"}

#: Modules whose pre-filled messages are accepted, with the reason. Empty: every module under src/alianza
#: speaks to users of the node (the CLI included, whose errors are the same ``AlianzaError`` the API returns).
FILLED_ALLOWED: dict[str, str] = {}

#: Message arguments that are neither a literal nor a known constant, and where their templates come from.
DYNAMIC_ALLOWED = {
    ("alianza.cooperation.commitments", "NOT_SAVED[what]"): "(c) NOT_SAVED",
    ("alianza.policy.decision_table", "CASE_PREFIX + exc.template"): "(g) _CaseError",
    ("alianza.cooperation.importer", "template"): "(b) _Problems.add passes on the templates of its callers",
}


@dataclass(frozen=True)
class Site:
    """One place a message is passed: the file and line, the kind (a)-(h) and the argument's node."""

    module: str
    path: Path
    line: int
    kind: str
    node: ast.expr
    #: The module-level function the message is given in, and the parameter of it that the message is, if any.
    function: str | None = None
    forwarded: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(SRC.parent)}:{self.line}"


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    constants: dict[str, str] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


@cache
def _modules() -> tuple[Module, ...]:
    modules = []
    for path in sorted(SRC.rglob("*.py")):
        if EXCLUDED_DIRS & set(path.relative_to(SRC).parts[:-1]):
            continue
        name = _module_name(path)
        module = Module(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for stmt in module.tree.body:
            targets = (
                stmt.targets
                if isinstance(stmt, ast.Assign)
                else [stmt.target]
                if isinstance(stmt, ast.AnnAssign)
                else []
            )
            value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    module.constants[target.id] = value.value
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    source = f"{base}.{source}" if source else base
                for alias in node.names:
                    # (module, name): ``from m import NAME``; a name may also be a submodule of m.
                    module.imports[alias.asname or alias.name] = (source, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name.partition(".")[0]] = (
                        alias.name if alias.asname else alias.name.partition(".")[0],
                        None,
                    )
        modules.append(module)
    return tuple(modules)


@cache
def _by_name() -> dict[str, Module]:
    return {m.name: m for m in _modules()}


@cache
def _error_classes() -> frozenset[str]:
    """Names of the ``AlianzaError`` subclasses defined in src/alianza, ``AlianzaError`` included."""
    bases: dict[str, set[str]] = {}
    for module in _modules():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(filter(None, map(_base_name, node.bases)))
    found = {ROOT_ERROR}
    while grown := {name for name, parents in bases.items() if parents & found} - found:
        found |= grown
    return frozenset(found)


@cache
def _add_positions() -> dict[str, tuple[int, str]]:
    """Module -> (position, name) of the message in ``x.add(...)`` calls, for the modules that define or import
    exactly one class whose ``add`` method takes a ``template`` or ``message`` parameter."""
    collectors: dict[tuple[str, str], tuple[int, str]] = {}
    for module in _modules():
        for cls in (n for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)):
            for method in cls.body:
                if isinstance(method, ast.FunctionDef) and method.name == "add":
                    params = [a.arg for a in [*method.args.posonlyargs, *method.args.args][1:]]
                    for keyword in ("template", "message"):
                        if keyword in params:
                            collectors[(module.name, cls.name)] = (params.index(keyword), keyword)
    positions = {}
    for module in _modules():
        found = {
            spec
            for (owner, cls), spec in collectors.items()
            if owner == module.name or module.imports.get(cls) == (owner, cls)
        }
        assert len(found) <= 1, f"{module.name} uses several problem collectors; the test cannot tell them apart"
        if found:
            positions[module.name] = found.pop()
    return positions


def _is_alianza_error(module: Module, name: str) -> bool:
    """A call of ``name`` raises one of ours, not a same-named class imported from another library."""
    if name not in _error_classes():
        return False
    origin = module.imports.get(name)
    return origin is None or origin[0].startswith("alianza")


def _resolve(module: Module, node: ast.expr) -> str | None:
    """The string a message argument stands for: a literal or a module-level constant (local or imported)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in module.constants:
            return module.constants[node.id]
        source, name = module.imports.get(node.id, ("", None))
        owner = _by_name().get(source)
        return owner.constants.get(name) if owner is not None and name is not None else None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        source, name = module.imports.get(node.value.id, ("", None))
        owner = _by_name().get(f"{source}.{name}" if name else source)
        return owner.constants.get(node.attr) if owner is not None else None
    return None


def _message_arg(node: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(node.args) > position and not any(isinstance(a, ast.Starred) for a in node.args[: position + 1]):
        return node.args[position]
    return next((k.value for k in node.keywords if k.arg == keyword), None)


Wrappers = dict[tuple[str, str], tuple[int, str]]


def _wrapper_call(module: Module, node: ast.Call, wrappers: Wrappers) -> tuple[str, int, str] | None:
    """The wrapper ``node`` calls, as (name, position, parameter) of its message, if it calls one."""
    if isinstance(node.func, ast.Name):
        name = node.func.id
        origin = module.imports.get(name)
        key = (module.name, name) if origin is None else (origin[0], origin[1] or "")
    elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        name = node.func.attr
        source, sub = module.imports.get(node.func.value.id, ("", None))
        key = (f"{source}.{sub}" if sub else source, name)
    else:
        return None
    return (name, *wrappers[key]) if key in wrappers else None


def _scan(module: Module, wrappers: Wrappers) -> Iterator[Site]:
    """The message sites of one module, given the wrappers known so far."""

    def site(kind: str, node: ast.expr, function: ast.FunctionDef | None) -> Site:
        params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]] if function else []
        forwarded = node.id if isinstance(node, ast.Name) and node.id in params else None
        return Site(module.name, module.path, node.lineno, kind, node, function.name if function else None, forwarded)

    for stmt in module.tree.body:
        targets = (
            stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        )
        value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Dict) and any(isinstance(t, ast.Name) and t.id in MESSAGE_TABLES for t in targets):
            yield from (site("(c) message table", v, None) for v in value.values)
    for top in module.tree.body:
        function = top if isinstance(top, ast.FunctionDef) else None
        for node in ast.walk(top):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "message" and _is_str(value):
                        yield site("(f) problem dict", value, function)
            if not isinstance(node, ast.Call) or (name := _callee(node)) is None:
                continue
            kind, arg = "", None
            if _is_alianza_error(module, name):
                kind, arg = f"(a) {name}", _message_arg(node, 0, "message")
            elif name in PROBLEM_CALLS:
                kind, arg = f"(b) {name}", _message_arg(node, 1, "template")
            elif name in GETTEXT_CALLS and isinstance(node.func, ast.Name):
                kind, arg = f"(d) {name}", _message_arg(node, 0, "message")
            elif name in DETAIL_CALLS:
                kind, arg = f"(e) {name}", _message_arg(node, 2, "template")
            elif name == "add" and isinstance(node.func, ast.Attribute) and module.name in _add_positions():
                position, keyword = _add_positions()[module.name]
                kind, arg = f"(e) {name}", _message_arg(node, position, keyword)
            elif (module.name, name) in PREFIXED_TEMPLATES:
                kind, arg = f"(g) {name}", _message_arg(node, 0, "template")
            elif wrapped := _wrapper_call(module, node, wrappers):
                kind, arg = f"(h) {wrapped[0]}", _message_arg(node, wrapped[1], wrapped[2])
            if arg is not None:
                yield site(kind, arg, function)


@cache
def _analysis() -> tuple[tuple[Site, ...], Wrappers]:
    """Every message site of src/alianza, and the helper functions that pass a message on (to a fixpoint, so
    a helper of a helper is found too)."""
    wrappers: Wrappers = {}
    while True:
        sites = tuple(site for module in _modules() for site in _scan(module, wrappers))
        found: Wrappers = {}
        for s in sites:
            if s.function and s.forwarded and not s.kind.startswith(("(d)", "(f)")):
                top = next(
                    f for f in _by_name()[s.module].tree.body if isinstance(f, ast.FunctionDef) and f.name == s.function
                )
                params = [a.arg for a in [*top.args.posonlyargs, *top.args.args]]
                found[(s.module, s.function)] = (params.index(s.forwarded), s.forwarded)
        if found == wrappers:
            return sites, wrappers
        wrappers = found


def _sites() -> tuple[Site, ...]:
    return _analysis()[0]


def _is_filled(node: ast.expr) -> bool:
    """An f-string, ``"...".format(...)`` or ``"..." % ...``: filled in English before it could be translated."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return True
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Mod) and _is_str(node.left):
            return True
        return _is_filled(node.left) or _is_filled(node.right)
    return False


def _templates() -> dict[str, list[str]]:
    """Each message template with the places it is used."""
    found: dict[str, list[str]] = {}
    for s in _sites():
        module = _by_name()[s.module]
        text = _resolve(module, s.node)
        if text is None:
            continue
        if s.kind.startswith("(g)"):
            prefix = module.constants[PREFIXED_TEMPLATES[(s.module, s.kind.split()[-1])]]
            text = prefix + text
        if text.strip():
            found.setdefault(text, []).append(s.where)
    return found


def test_every_message_is_in_the_spanish_catalog() -> None:
    templates = _templates()
    assert len(templates) > 300, "the collector found too few messages; has the source layout changed?"
    known = catalog_msgids("es")
    missing = [f"{', '.join(where)}: {text!r}" for text, where in sorted(templates.items()) if text not in known]
    assert not missing, f"{len(missing)} message(s) have no Spanish translation:\n" + "\n".join(missing)


#: The filled messages src/alianza still has, by file and source text (not line, which moves with every edit),
#: waiting for the rewrite to template + params. ``test_no_message_is_filled_before_translation`` is an expected
#: failure while this is not empty; ``test_no_new_filled_message`` keeps the list from growing or going stale.
KNOWN_FILLED: frozenset[tuple[str, str]] = frozenset()


def _filled() -> dict[tuple[str, str], list[str]]:
    """Messages filled before translation, by (file, source text), with their places."""
    found: dict[tuple[str, str], list[str]] = {}
    for s in _sites():
        if _is_filled(s.node) and s.module not in FILLED_ALLOWED:
            key = (str(s.path.relative_to(SRC.parent)), ast.unparse(s.node))
            found.setdefault(key, []).append(s.where)
    return found


@pytest.mark.xfail(
    bool(KNOWN_FILLED),
    reason="messages filled before translation, to rewrite as template + params: "
    + "; ".join(f"{path}: {text}" for path, text in sorted(KNOWN_FILLED)),
    strict=True,
)
def test_no_message_is_filled_before_translation() -> None:
    filled = _filled()
    assert not filled, "an f-string cannot be a msgid; pass a template and its params:\n" + "\n".join(
        f"{', '.join(where)}: {text}" for (_, text), where in sorted(filled.items())
    )


def test_no_new_filled_message() -> None:
    """The expected failure above must not hide a new f-string, nor keep listing one that was fixed."""
    filled = _filled()
    new = [f"{', '.join(where)}: {key[1]}" for key, where in sorted(filled.items()) if key not in KNOWN_FILLED]
    assert not new, "messages filled before translation; pass a template and its params:\n" + "\n".join(new)
    fixed = sorted(KNOWN_FILLED - set(filled))
    assert not fixed, "fixed, so remove them from KNOWN_FILLED:\n" + "\n".join(f"{p}: {t}" for p, t in fixed)


def test_every_message_argument_is_known() -> None:
    """A message given as a variable would escape the first test; each dynamic form must be accounted for."""
    unknown = []
    for s in _sites():
        module = _by_name()[s.module]
        if _resolve(module, s.node) is not None or _is_filled(s.node):
            continue
        if s.forwarded and (s.module, s.function or "") in _analysis()[1]:
            continue  # a helper's parameter: its callers are sites of their own (h)
        if s.kind.startswith(("(d)", "(e)")) and not _is_str(s.node):
            # gettext of a marked constant (``_(LABELS[kind])``) and the Problems helpers that pass a template on.
            continue
        if (s.module, ast.unparse(s.node)) not in DYNAMIC_ALLOWED:
            unknown.append(f"{s.where}: {s.kind}: {ast.unparse(s.node)}")
    assert not unknown, "messages the collector cannot read; use a literal or a module constant:\n" + "\n".join(unknown)


def _placeholders(text: str) -> set[str]:
    return {
        "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        for _, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    }


def test_translations_keep_the_placeholders() -> None:
    offenders = []
    for path in sorted((CATALOG_DIR / "es" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale="es")
        for message in catalog:
            if not message.id or not message.string:
                continue
            msgid, msgstr = str(message.id), str(message.string)
            where = f"{path.name}:{message.lineno}"
            try:
                english, spanish = _placeholders(msgid), _placeholders(msgstr)
            except ValueError as exc:
                offenders.append(f"{where}: braces do not parse ({exc}): {msgid!r} / {msgstr!r}")
                continue
            if english != spanish:
                offenders.append(f"{where}: {msgid!r} has {sorted(english)}, the translation {sorted(spanish)}")
    assert not offenders, "translations whose placeholders differ from the msgid:\n" + "\n".join(offenders)
