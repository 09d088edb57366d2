"""TAXII 2.1: a partner's client reads exactly what this node released to its agency, as it was sent.

The client side is the OASIS ``taxii2-client`` talking HTTP to a real uvicorn server (it uses ``requests``, so it
cannot go through TestClient); what it gets is checked with the OASIS ``stix2-validator``. The shape of single
HTTP exchanges (media types, errors, redirects) is checked with TestClient. Every test runs on SQLite and
PostgreSQL, like every database test.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_string  # type: ignore[import-untyped]
from taxii2client.exceptions import AccessError  # type: ignore[import-untyped]
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages  # type: ignore[import-untyped]

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.federation import taxii
from alianza.node import Node
from alianza.records import service as records
from alianza.records.interchange.tlp import TLP2_IDS
from alianza.records.schemas import Markings, RecordInput
from alianza.releases import service as releases
from alianza.web.api import taxii as taxii_api
from alianza.web.app import create_app
from tests.conftest import make_user, token_for

TAXII = "application/taxii+json;version=2.1"
COLLECTION = f"/taxii2/api/collections/{taxii.COLLECTION_ID}"


# ------------------------------------------------------------------------------------------------ helpers


def taxii_app(node: Node) -> FastAPI:
    """The node's app; the TAXII router is added here until web/app.py mounts it (then this adds nothing)."""
    app = create_app(node)
    if not any(getattr(r, "path", "").startswith("/taxii2/") for r in routing.iter_route_contexts(app.routes)):
        app.include_router(taxii_api.router)
    return app


def make_record(node: Node, analyst: User, name: str, *, tlp: str = "AMBER", schema: str = "Person") -> str:
    properties: dict[str, Any] = {"name": name}
    if schema == "Person":
        properties |= {"birthDate": "1980-05-01", "nationality": "mx"}
    data = RecordInput.model_validate(
        {
            "schema": schema,
            "properties": properties,
            "markings": Markings(
                origin_agency="mx_fgr",
                tlp=tlp,  # type: ignore[arg-type]
                legal_basis="mx_cnpp",
                purpose="criminal_investigation",
                criminal_predicate="Carpeta de investigación FED/123/2025",
            ),
        }
    )
    with node.db.transaction() as session:
        return records.create_record(session, analyst, node.trail, node.settings.country, data).id


def release(
    node: Node, analyst: User, reviewer: User, record_ids: list[str], *, agency: str = "us_dea", **extra: Any
) -> int:
    """Propose (analyst) and approve (another person, a legal reviewer): what the node's policy lets go."""
    proposal = releases.ReleaseProposal(
        record_ids=record_ids,
        recipient_node="us-node",
        recipient_agency=agency,
        purpose="criminal_investigation",
        legal_basis="criminal_investigation",
        **extra,
    )
    proposed = releases.propose(node.db, analyst, node.trail, node.framework, proposal)
    with node.db.transaction() as session:
        done = releases.review(
            session, reviewer, node.trail, node.framework, proposed.id, approve=True, note="Art. 40: procede", version=1
        )
        assert done.status == "approved", done.review_note
    return proposed.id


def released_objects(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in envelope.get("objects", []) if "x_alianza_id" in o]


@dataclass
class Client:
    user: User
    token: str


@pytest.fixture
def reviewer(node: Node) -> User:
    return make_user(node, "legal", "legal_reviewer", "mx_fgr")


@pytest.fixture
def dea(node: Node) -> Client:
    user = make_user(node, "dea.client", "analyst", "us_dea")
    return Client(user, token_for(node, user))


@pytest.fixture
def fbi(node: Node) -> Client:
    user = make_user(node, "fbi.client", "analyst", "us_fbi")
    return Client(user, token_for(node, user))


@pytest.fixture
def http(node: Node) -> Iterator[TestClient]:
    with TestClient(taxii_app(node), base_url="http://127.0.0.1") as client:
        yield client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server_url(node: Node) -> Iterator[str]:
    """A real HTTP server on a free local port, in a background thread, for taxii2-client."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(taxii_app(node), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/taxii2/"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def collection_of(server_url: str, client: Client) -> Collection:
    api_root: ApiRoot = Server(server_url, user=client.user.username, password=client.token).default
    [only] = api_root.collections
    return only


def _status(error: requests.HTTPError) -> int:
    assert error.response is not None
    return error.response.status_code


def auth(client: Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}", "Accept": TAXII}


# ------------------------------------------------------------------------------------------------ taxii2-client


def test_client_discovers_the_collection_and_reads_the_released_person_as_valid_stix(
    node: Node, analyst: User, reviewer: User, dea: Client, server_url: str
) -> None:
    rid = make_record(node, analyst, "Juan Pérez López")
    release(node, analyst, reviewer, [rid])

    server = Server(server_url, user="dea.client", password=dea.token)
    assert "Nodo de prueba" in server.title
    assert len(server.api_roots) == 1 and server.default is not None
    api_root = server.api_roots[0]
    assert api_root.versions == [TAXII]
    [collection] = api_root.collections
    assert collection.id == taxii.COLLECTION_ID
    assert collection.can_read is True and collection.can_write is False
    assert collection.media_types == ["application/stix+json;version=2.1"]

    envelope = collection.get_objects()
    assert envelope["more"] is False
    [person] = released_objects(envelope)
    assert person["type"] == "identity" and person["identity_class"] == "individual"
    assert person["name"] == "Juan Pérez López"
    assert person["x_alianza_id"] == rid
    assert person["object_marking_refs"] == [TLP2_IDS["AMBER"]]
    by_id = {o["id"]: o for o in envelope["objects"]}
    # Everything the person refers to travels with it: the node identity, the extension and the TLP marking.
    assert person["created_by_ref"] in by_id
    assert TLP2_IDS["AMBER"] in by_id
    assert [o for o in envelope["objects"] if o["type"] == "marking-definition"] == [by_id[TLP2_IDS["AMBER"]]]
    assert all(ext in by_id for ext in person["extensions"])

    bundle = {"type": "bundle", "id": "bundle--3f9c1c4e-6a2d-4c55-9f43-1d2b9d7a0e11", "objects": envelope["objects"]}
    results = validate_string(json.dumps(bundle), ValidationOptions(strict=False))
    for warning in results.warnings:
        print("stix2-validator warning:", warning)
    assert results.errors == [] and results.is_valid

    manifest = collection.get_manifest()
    assert [m["id"] for m in manifest["objects"]] == [o["id"] for o in envelope["objects"]]
    entry = next(m for m in manifest["objects"] if m["id"] == person["id"])
    assert entry["version"] == person["modified"]
    assert entry["media_type"] == "application/stix+json;version=2.1"

    again = collection.get_objects()
    assert again["objects"] == envelope["objects"], "repeated polls give the same objects and ids"
    one = collection.get_object(person["id"])
    assert one["objects"] == [person]


def test_paging_with_limit_and_next_returns_everything_once_in_order(
    node: Node, analyst: User, reviewer: User, dea: Client, server_url: str
) -> None:
    ids = [make_record(node, analyst, name) for name in ("Ana Ruiz", "Beto Soto", "Carla Vega")]
    release(node, analyst, reviewer, ids)
    collection = collection_of(server_url, dea)
    everything = collection.get_objects()["objects"]
    assert len(released_objects({"objects": everything})) == 3

    pages = list(as_pages(collection.get_objects, per_request=1))
    assert all(len(p["objects"]) == 1 for p in pages)
    assert [p["more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert "next" not in pages[-1]
    assert [p["objects"][0] for p in pages] == everything
    manifest = [m for p in as_pages(collection.get_manifest, per_request=2) for m in p["objects"]]
    added = [m["date_added"] for m in manifest]
    assert [m["id"] for m in manifest] == [o["id"] for o in everything]
    assert added == sorted(added)


def test_added_after_returns_only_what_was_released_since(
    node: Node, analyst: User, reviewer: User, dea: Client, server_url: str
) -> None:
    first = make_record(node, analyst, "Juan Pérez López")
    release(node, analyst, reviewer, [first])
    collection = collection_of(server_url, dea)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert "objects" not in collection.get_objects(added_after=future)

    response = collection._conn.session.get(  # the date headers are not exposed by taxii2-client
        collection.objects_url, headers={"Accept": TAXII}, auth=(dea.user.username, dea.token)
    )
    last_seen = response.headers["X-TAXII-Date-Added-Last"]
    assert response.headers["X-TAXII-Date-Added-First"] <= last_seen
    assert "objects" not in collection.get_objects(added_after=last_seen)

    second = make_record(node, analyst, "María López")
    release(node, analyst, reviewer, [second])
    new = collection.get_objects(added_after=last_seen)
    assert [o["x_alianza_id"] for o in released_objects(new)] == [second]
    assert not [o for o in new["objects"] if o["type"] == "marking-definition"], "the AMBER marking came before"


def test_match_filters(node: Node, analyst: User, reviewer: User, dea: Client, server_url: str) -> None:
    person = make_record(node, analyst, "Juan Pérez López")
    company = make_record(node, analyst, "Transportes del Norte SA", schema="Company", tlp="GREEN")
    release(node, analyst, reviewer, [person, company])
    collection = collection_of(server_url, dea)

    markings = collection.get_objects(type="marking-definition")["objects"]
    assert {m["id"] for m in markings} == {TLP2_IDS["AMBER"], TLP2_IDS["GREEN"]}
    identities = released_objects(collection.get_objects(type="identity"))
    assert {o["x_alianza_id"] for o in identities} == {person, company}
    person_id = next(o["id"] for o in identities if o["x_alianza_id"] == person)
    assert [o["id"] for o in collection.get_objects(id=person_id)["objects"]] == [person_id]
    assert "objects" not in collection.get_objects(spec_version="2.0")
    assert len(collection.get_objects(spec_version="2.1")["objects"]) == len(collection.get_objects()["objects"])
    assert "objects" not in collection.get_objects(type="indicator")


def test_another_agency_sees_an_empty_collection(
    node: Node, analyst: User, reviewer: User, fbi: Client, server_url: str
) -> None:
    release(node, analyst, reviewer, [make_record(node, analyst, "Juan Pérez López")])  # to the DEA
    collection = collection_of(server_url, fbi)
    assert collection.can_read is True
    assert "objects" not in collection.get_objects()
    assert "objects" not in collection.get_manifest()


def test_a_recalled_release_disappears(node: Node, analyst: User, reviewer: User, dea: Client, server_url: str) -> None:
    kept, withdrawn = make_record(node, analyst, "Ana Ruiz"), make_record(node, analyst, "Beto Soto")
    first = release(node, analyst, reviewer, [kept, withdrawn])
    collection = collection_of(server_url, dea)
    assert {o["x_alianza_id"] for o in released_objects(collection.get_objects())} == {kept, withdrawn}
    withdrawn_id = next(o["id"] for o in released_objects(collection.get_objects()) if o["x_alianza_id"] == withdrawn)

    with node.db.transaction() as session:
        releases.recall(session, analyst, node.trail, first, "The source withdrew it", [withdrawn])
    assert [o["x_alianza_id"] for o in released_objects(collection.get_objects())] == [kept]
    with pytest.raises(requests.HTTPError) as caught:
        collection.get_object(withdrawn_id)
    assert _status(caught.value) == 404

    with node.db.transaction() as session:
        releases.recall(session, analyst, node.trail, first, "All of it")
    assert "objects" not in collection.get_objects()


def test_wrong_password_is_401(node: Node, dea: Client, server_url: str) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        _ = Server(server_url, user="dea.client", password="alz_wrong").title
    assert _status(caught.value) == 401
    assert caught.value.response is not None
    assert caught.value.response.headers["WWW-Authenticate"] == 'Basic realm="alianza"'
    with pytest.raises(requests.HTTPError) as caught:  # a good token under another user's name
        _ = Server(server_url, user="admin", password=dea.token).title
    assert _status(caught.value) == 401


def test_adding_objects_is_refused_with_a_taxii_error(dea: Client, server_url: str) -> None:
    collection = collection_of(server_url, dea)
    envelope = {"objects": [{"type": "identity", "spec_version": "2.1", "id": f"identity--{uuid.uuid4()}"}]}
    with pytest.raises(AccessError):  # taxii2-client reads can_write: false and does not even try
        collection.add_objects(envelope)
    # A client that tries anyway.
    response = requests.post(
        collection.objects_url,
        json=envelope,
        headers={"Accept": TAXII, "Content-Type": TAXII},
        auth=(dea.user.username, dea.token),
        timeout=10,
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"] == TAXII
    assert set(response.json()) == {"title", "description", "http_status"}
    assert response.json()["http_status"] == "403"


# ------------------------------------------------------------------------------------------------ HTTP shape


def test_media_type_and_accept_negotiation(http: TestClient, dea: Client) -> None:
    for accept in (TAXII, "application/taxii+json", "*/*", "application/json, */*;q=0.1", None):
        headers = {"Authorization": f"Bearer {dea.token}"} | ({"Accept": accept} if accept else {})
        response = http.get("/taxii2/", headers=headers)
        assert response.status_code == 200, (accept, response.text)
        assert response.headers["content-type"] == TAXII
    for accept in ("application/json", "application/taxii+json;version=2.0", "text/html", TAXII + ";q=0"):
        response = http.get("/taxii2/", headers={"Authorization": f"Bearer {dea.token}", "Accept": accept})
        assert response.status_code == 406, accept
        assert response.json()["http_status"] == "406"


def test_unauthenticated_requests_get_401_basic_challenge(http: TestClient) -> None:
    for path in ("/taxii2/", "/taxii2/api/", f"{COLLECTION}/objects/", f"{COLLECTION}/manifest/"):
        response = http.get(path, headers={"Accept": TAXII})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == 'Basic realm="alianza"'
        assert response.headers["content-type"] == TAXII
        body = response.json()
        assert set(body) == {"title", "description", "http_status"} and body["http_status"] == "401"
    bad = http.get("/taxii2/", headers={"Authorization": "Basic not-base64!!"})
    assert bad.status_code == 401


def test_errors_are_taxii_errors(http: TestClient, dea: Client) -> None:
    headers = auth(dea)
    cases = {
        "/taxii2/api/status/2d086da7-4bdc-4f91-900e-d77486753710/": 404,
        "/taxii2/api/collections/not-ours/": 404,
        "/taxii2/api/collections/not-ours/objects/": 404,
        f"{COLLECTION}/objects/identity--2d086da7-4bdc-4f91-900e-d77486753710/": 404,
        "/taxii2/nowhere/": 404,
        f"{COLLECTION}/objects/?added_after=yesterday": 400,
        f"{COLLECTION}/objects/?limit=0": 400,
        f"{COLLECTION}/objects/?limit=ten": 400,
        f"{COLLECTION}/objects/?next=not-a-token": 400,
        f"{COLLECTION}/objects/?match[version]=latest": 400,
    }
    for path, status in cases.items():
        response = http.get(path, headers=headers)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == TAXII, path
        body = response.json()
        assert set(body) == {"title", "description", "http_status"}, path
        assert body["http_status"] == str(status) and body["description"], path
    for method, path, status in (
        ("POST", f"{COLLECTION}/objects/", 403),
        ("DELETE", f"{COLLECTION}/objects/identity--2d086da7-4bdc-4f91-900e-d77486753710/", 403),
        ("PUT", f"{COLLECTION}/objects/", 405),
        ("POST", "/taxii2/api/collections/", 405),
        ("POST", f"{COLLECTION}/manifest/", 405),
    ):
        response = http.request(method, path, headers=headers)
        assert response.status_code == status, (method, path, response.text)
        assert response.json()["http_status"] == str(status)


def test_a_missing_final_slash_is_redirected(http: TestClient, dea: Client) -> None:
    response = http.get(f"{COLLECTION}/objects?limit=5", headers=auth(dea), follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"].endswith(f"{COLLECTION}/objects/?limit=5")
    assert http.get(f"{COLLECTION}/objects", headers=auth(dea)).status_code == 200


def test_errors_speak_the_clients_language(node: Node, http: TestClient) -> None:
    user = make_user(node, "dea.es", "analyst", "us_dea", lang="es")
    response = http.get("/taxii2/api/collections/not-ours/", headers=auth(Client(user, token_for(node, user))))
    assert response.json()["title"] == "No encontrado"
    assert "colección" in response.json()["description"]


def test_a_role_without_record_access_cannot_read(node: Node, analyst: User, reviewer: User, http: TestClient) -> None:
    release(node, analyst, reviewer, [make_record(node, analyst, "Juan Pérez López")])
    user = make_user(node, "dea.coord", "coordinator", "us_dea")
    headers = auth(Client(user, token_for(node, user)))
    assert http.get(f"{COLLECTION}/", headers=headers).json()["can_read"] is False
    response = http.get(f"{COLLECTION}/objects/", headers=headers)
    assert response.status_code == 403 and response.json()["http_status"] == "403"


def test_what_is_served_is_what_was_sent_after_redaction(
    node: Node, analyst: User, reviewer: User, dea: Client, http: TestClient
) -> None:
    rid = make_record(node, analyst, "Juan Pérez López")
    release(node, analyst, reviewer, [rid], fields=["birthDate", "nationality"])
    [person] = released_objects(http.get(f"{COLLECTION}/objects/", headers=auth(dea)).json())
    assert "Juan" not in json.dumps(person), "a field left out of the release must not come back, not even as name"
    assert person["x_alianza_properties"] == {"birthDate": ["1980-05-01"], "nationality": ["mx"]}
    # Editing the record afterwards changes nothing that was released.
    with node.db.transaction() as session:
        record = records.get_record(session, analyst, rid)
        record.properties = {**record.properties, "alias": ["El Nuevo"]}
    [again] = released_objects(http.get(f"{COLLECTION}/objects/", headers=auth(dea)).json())
    assert again == person


def test_a_second_release_of_a_record_is_a_new_version(
    node: Node, analyst: User, reviewer: User, dea: Client, http: TestClient
) -> None:
    rid = make_record(node, analyst, "Juan Pérez López")
    release(node, analyst, reviewer, [rid], fields=["name"])
    time.sleep(0.002)  # versions are stamped to the millisecond
    release(node, analyst, reviewer, [rid])
    headers = auth(dea)
    [latest] = released_objects(http.get(f"{COLLECTION}/objects/", headers=headers).json())
    assert "birthDate" in latest["x_alianza_properties"]
    both = released_objects(http.get(f"{COLLECTION}/objects/?match[version]=all", headers=headers).json())
    assert [o["id"] for o in both] == [latest["id"]] * 2 and both[0]["created"] == both[1]["created"]
    [first] = released_objects(http.get(f"{COLLECTION}/objects/?match[version]=first", headers=headers).json())
    assert set(first["x_alianza_properties"]) == {"name"}
    versions = http.get(f"{COLLECTION}/objects/{latest['id']}/versions/", headers=headers).json()
    assert versions == {"more": False, "versions": [first["modified"], latest["modified"]]}
    manifest = http.get(f"{COLLECTION}/manifest/?match[id]={latest['id']}", headers=headers).json()
    assert [m["version"] for m in manifest["objects"]] == [latest["modified"]]


def test_an_edge_is_served_only_with_both_ends(
    node: Node, analyst: User, reviewer: User, dea: Client, http: TestClient
) -> None:
    owner = make_record(node, analyst, "Juan Pérez López")
    company = make_record(node, analyst, "Transportes del Norte SA", schema="Company")
    data = RecordInput.model_validate(
        {
            "schema": "Ownership",
            "properties": {"owner": [owner], "asset": [company]},
            "markings": Markings(
                origin_agency="mx_fgr",
                legal_basis="mx_cnpp",
                purpose="criminal_investigation",
                criminal_predicate="Carpeta FED/123/2025",
            ),
        }
    )
    with node.db.transaction() as session:
        edge = records.create_record(session, analyst, node.trail, node.settings.country, data).id
    release(node, analyst, reviewer, [edge, company])
    served = {o["x_alianza_id"] for o in released_objects(http.get(f"{COLLECTION}/objects/", headers=auth(dea)).json())}
    assert served == {company}, "the owner was not released to the DEA, so the ownership cannot be shown"
    release(node, analyst, reviewer, [owner])
    objects = released_objects(http.get(f"{COLLECTION}/objects/", headers=auth(dea)).json())
    by_record = {o["x_alianza_id"]: o for o in objects}
    assert set(by_record) == {company, edge, owner}
    assert by_record[edge]["source_ref"] == by_record[owner]["id"]


def test_reads_that_return_records_are_audited(
    node: Node, analyst: User, reviewer: User, dea: Client, http: TestClient
) -> None:
    rid = make_record(node, analyst, "Juan Pérez López")
    release(node, analyst, reviewer, [rid])

    def served() -> list[tuple[str, dict[str, Any]]]:
        with node.db.reading() as session:
            entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "taxii.served"))
            return [(e.actor, e.details) for e in entries]

    response = http.get(f"{COLLECTION}/objects/", headers=auth(dea))
    [(actor, details)] = served()
    assert actor == "dea.client" and details["records"] == [rid] and details["agency"] == "us_dea"
    http.get(
        f"{COLLECTION}/objects/", headers=auth(dea), params={"added_after": response.headers["X-TAXII-Date-Added-Last"]}
    )
    http.get(f"{COLLECTION}/manifest/", headers=auth(dea))
    assert len(served()) == 1, "empty polls and manifests are not bulk reads of records"
    with node.db.reading() as session:
        assert node.trail.verify(session).ok
