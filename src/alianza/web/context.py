"""Per-request access to the node, the user and the language."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from alianza.accounts.models import User
from alianza.i18n import Gettext, Lang, gettext_for, normalise_lang
from alianza.node import Node


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


@dataclass
class Viewer:
    """Who is looking, in which language, with which CSRF token (None for bearer-token clients)."""

    user: User
    lang: Lang
    csrf_token: str | None

    @property
    def gettext(self) -> Gettext:
        return gettext_for(self.lang)


def request_lang(request: Request, user: User | None = None) -> Lang:
    """Language: an explicit ?lang=, then the lang cookie, then the user's profile, then the node default."""
    node = node_of(request)
    explicit = request.query_params.get("lang") or request.cookies.get("lang")
    if explicit in ("en", "es"):
        return normalise_lang(explicit)
    if user is not None and user.lang in ("en", "es"):
        return normalise_lang(user.lang)
    header = request.headers.get("accept-language")
    return normalise_lang(header, default=node.settings.default_lang)
