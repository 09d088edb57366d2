"""Who am I, the vocabularies, and the language preference."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from alianza.accounts import service as accounts
from alianza.errors import NotFoundError
from alianza.vocab import vocabulary
from alianza.web.auth import api_viewer
from alianza.web.context import Viewer, node_of

router = APIRouter(tags=["system"])

VOCABS = ("areas", "agencies", "statuses", "principles", "roles")


@router.get("/me")
def me(viewer: Viewer = Depends(api_viewer)) -> dict[str, Any]:
    u = viewer.user
    return {
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role,
        "agency": u.agency,
        "lang": u.lang,
    }


@router.put("/me/lang")
def set_lang(request: Request, body: dict[str, str], viewer: Viewer = Depends(api_viewer)) -> dict[str, str]:
    with node_of(request).db.transaction() as session:
        accounts.set_language(session, viewer.user, body.get("lang", ""))
    return {"lang": viewer.user.lang}


@router.get("/vocab/{name}")
def vocab(name: str, viewer: Viewer = Depends(api_viewer)) -> list[dict[str, Any]]:
    if name not in VOCABS:
        raise NotFoundError("No vocabulary named '{name}'; use one of: {known}.", name=name, known=", ".join(VOCABS))
    terms = getattr(vocabulary(), name)
    return [t.model_dump(mode="json") for t in terms.values()]
