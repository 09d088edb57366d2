"""The hit/no-hit listings are domain services (``hitnohit.list_offers``, ``hitnohit.listed_hits``): the role and
need-to-know checks live there, so the API, the UI and the CLI cannot list more than the reader may see."""

from __future__ import annotations

import pytest

from alianza.accounts.models import User
from alianza.errors import PermissionDeniedError
from alianza.matching import hitnohit
from alianza.matching.private_models import SENT, MatchOffer
from alianza.node import Node
from tests.conftest import make_user
from tests.matching.test_resolution_db import _seed
from tests.web.test_matching_ui import add_hit


def test_listings_check_the_role_and_need_to_know(node: Node, analyst: User, coordinator: User) -> None:
    _seed(node, analyst)
    seen = add_hit(node, "p-1", offer_id="offer-a")
    add_hit(node, "p-9", offer_id="offer-b")  # TLP:RED of the FGR: only its agency sees it
    with node.db.transaction() as session:
        session.add(
            MatchOffer(
                offer_id="offer-a",
                direction=SENT,
                partner="us-node",
                schema="Person",
                schema_fingerprint="f",
                subject_count=2,
            )
        )
    outsider = make_user(node, "sspc", "analyst", "mx_sspc")
    with node.db.reading() as session:
        assert [h.hit.id for h in hitnohit.listed_hits(session, outsider)] == [seen]
        assert {h.hit.record_id for h in hitnohit.listed_hits(session, analyst)} == {"p-1", "p-9"}
        (listed,) = hitnohit.listed_hits(session, analyst, "offer-a")
        assert listed.record.id == "p-1" and listed.request is None
        assert [o.offer_id for o in hitnohit.list_offers(session, analyst, SENT)] == ["offer-a"]
        with pytest.raises(PermissionDeniedError):
            hitnohit.list_offers(session, coordinator, SENT)
        with pytest.raises(PermissionDeniedError):
            hitnohit.listed_hits(session, coordinator)
