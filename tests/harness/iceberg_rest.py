"""The Iceberg REST catalog of the tests: the routes of the Iceberg REST catalog protocol that
iceberg-rust's `RestCatalog` (crate `iceberg-catalog-rest`) calls, served on 127.0.0.1 (no
Java or Docker here for a reference catalog server). Behind the routes is pyiceberg's own
`SqlCatalog` (a SQLite file, catalog name `default`, and a warehouse directory), so namespaces,
table metadata files and commits (requirements checked, then a compare-and-swap of the
metadata location) are made by a real Iceberg implementation, not by this file.

    iceberg_rest.py --port PORT --catalog-db PATH --warehouse file:///ABS/DIR
                    [--token T [--client-id ID --client-secret SECRET]] [--prefix P] [--warehouse-name W]

    GET    /v1/config[?warehouse=W]            -> {"defaults": {}, "overrides": {"prefix"?: P}}
    POST   /v1/oauth/tokens                    client_credentials grant -> {"access_token": T, ...}
    GET    /v1/{P}/namespaces[?parent=NS]      -> {"namespaces": [[part, ...], ...]}
    POST   /v1/{P}/namespaces                  {"namespace", "properties"?} -> {"namespace", "properties"}
    GET    /v1/{P}/namespaces/{ns}             -> {"namespace", "properties"}
    HEAD   /v1/{P}/namespaces/{ns}             204 or 404
    DELETE /v1/{P}/namespaces/{ns}             204
    POST   /v1/{P}/namespaces/{ns}/properties  {"removals"?, "updates"?} -> {"updated", "removed", "missing"}
    GET    /v1/{P}/namespaces/{ns}/tables      -> {"identifiers": [{"namespace", "name"}, ...]}
    POST   /v1/{P}/namespaces/{ns}/tables      CreateTableRequest -> LoadTableResult
    GET    /v1/{P}/namespaces/{ns}/tables/{t}  -> LoadTableResult {"metadata-location", "metadata", "config"}
    HEAD   /v1/{P}/namespaces/{ns}/tables/{t}  204 or 404
    DELETE /v1/{P}/namespaces/{ns}/tables/{t}[?purgeRequested=true]  204
    POST   /v1/{P}/namespaces/{ns}/tables/{t}  CommitTableRequest {"requirements", "updates"}
                                               -> {"metadata-location", "metadata"}
    POST   /v1/{P}/tables/rename               {"source", "destination"} -> 204

Without --prefix the routes have no `{P}/` part. A namespace of several levels is joined by the
unit separator (%1F) in paths and in `parent`. Requests and responses are pyiceberg's pydantic
models; the partition fields of a CreateTableRequest may lack `field-id` (iceberg-rust sends an
unbound spec), the ids are assigned afresh at creation anyway. Staged creation is not served.

With --token, every route but /v1/config and /v1/oauth/tokens needs `Authorization: Bearer T`
(401 otherwise). With --client-id and --client-secret, /v1/oauth/tokens exchanges exactly those
client credentials for T. Errors are the spec's ErrorModel,
{"error": {"message", "type", "code"}}: 404 NoSuchNamespaceException / NoSuchTableException,
409 AlreadyExistsException / NamespaceNotEmptyException / CommitFailedException (a failed
requirement or a lost compare-and-swap), 400 BadRequestException, 401 NotAuthorizedException,
406 UnsupportedOperationException; the token route answers with the spec's OAuthError.

Like every server of the tests, it is ready when its port accepts connections: it binds only
once the catalog is open. The catalog lives in the SQLite file and the warehouse, so a
restarted server on the same paths has every namespace and table it had. One lock serialises
the requests that touch the catalog. Each request is logged to stderr.
"""
import argparse
import json
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic
from pyiceberg.catalog.rest import CreateTableRequest, TableResponse
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationError,
)
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table import CommitTableRequest
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER

LOCK = threading.Lock()
CATALOG = None
ARGS = None
SEPARATOR = "\x1f"


class Unsupported(Exception):
    pass


class BadRequest(Exception):
    pass


# The first matching class gives the status and the ErrorModel type (the spec's names).
ERRORS = [
    (NoSuchNamespaceError, 404, "NoSuchNamespaceException"),
    (NoSuchTableError, 404, "NoSuchTableException"),
    (NamespaceAlreadyExistsError, 409, "AlreadyExistsException"),
    (TableAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceNotEmptyError, 409, "NamespaceNotEmptyException"),
    (CommitFailedException, 409, "CommitFailedException"),
    (Unsupported, 406, "UnsupportedOperationException"),
    (BadRequest, 400, "BadRequestException"),
    (ValidationError, 400, "BadRequestException"),
    (ValueError, 400, "BadRequestException"),  # pydantic's ValidationError and bad JSON too
    (KeyError, 400, "BadRequestException"),
]


def error(code, kind, message):
    return code, {"error": {"message": message, "type": kind, "code": code}}


def namespace_of(text):
    return tuple(text.split(SEPARATOR))


def namespace_doc(ns):
    return {"namespace": list(ns), "properties": CATALOG.load_namespace_properties(ns)}


def load_result(table):
    return TableResponse(metadata_location=table.metadata_location, metadata=table.metadata, config={})


def create_table(ns, body):
    spec = body.get("partition-spec")
    if spec:
        for i, field in enumerate(spec.get("fields", [])):
            field.setdefault("field-id", 1000 + i)
    req = CreateTableRequest.model_validate({"location": None, "partition-spec": None, "write-order": None, **body})
    if req.stage_create:
        raise Unsupported("staged table creation (stage-create) is not supported")
    return load_result(CATALOG.create_table(
        (*ns, req.name),
        schema=req.table_schema,
        location=req.location,
        partition_spec=req.partition_spec or UNPARTITIONED_PARTITION_SPEC,
        sort_order=req.write_order or UNSORTED_SORT_ORDER,
        properties=req.properties,
    ))


def commit_table(ns, name, body):
    # The path names the table; a body `identifier` (iceberg-rust sends one) must not differ.
    given = body.get("identifier")
    if given and (list(given.get("namespace", [])), given.get("name")) != (list(ns), name):
        raise BadRequest(f"identifier {given} does not match the path")
    table = CATALOG.load_table((*ns, name))
    # A schema added by a commit gets the next free schema id, whatever id the client put in
    # it (iceberg-rust sends 0): the server assigns ids, as the Java catalogs do. pyiceberg's
    # own update code would keep the client's id, and a duplicate id would leave the table on
    # its old schema.
    next_id = max(s.schema_id for s in table.metadata.schemas) + 1
    for u in body.get("updates") or []:
        if u.get("action") == "add-schema":
            u["schema"]["schema-id"] = next_id
            next_id += 1
    req = CommitTableRequest.model_validate({**body, "identifier": {"namespace": list(ns), "name": name}})
    return CATALOG.commit_table(table, req.requirements, req.updates)


def route(method, parts, query, body):
    """(status, document) for a catalog route; `parts` are the path after /v1/{prefix}."""
    if parts == ["namespaces"]:
        if method == "GET":
            parent = query.get("parent", [""])[0]
            found = CATALOG.list_namespaces(namespace_of(parent) if parent else ())
            return 200, {"namespaces": [list(ns) for ns in sorted(found)]}
        if method == "POST":
            ns = tuple(body["namespace"])
            CATALOG.create_namespace(ns, body.get("properties") or {})
            return 200, namespace_doc(ns)
    if len(parts) >= 2 and parts[0] == "namespaces":
        ns = namespace_of(parts[1])
        rest = parts[2:]
        if not rest:
            if method == "GET":
                return 200, namespace_doc(ns)
            if method == "HEAD":
                return (204, None) if CATALOG.namespace_exists(ns) else (404, None)
            if method == "DELETE":
                CATALOG.drop_namespace(ns)
                return 204, None
        if rest == ["properties"] and method == "POST":
            s = CATALOG.update_namespace_properties(ns, set(body.get("removals") or []), body.get("updates") or {})
            return 200, {"updated": s.updated, "removed": s.removed, "missing": s.missing}
        if rest == ["tables"]:
            if method == "GET":
                found = sorted(CATALOG.list_tables(ns))
                return 200, {"identifiers": [{"namespace": list(t[:-1]), "name": t[-1]} for t in found]}
            if method == "POST":
                return 200, create_table(ns, body)
        if len(rest) == 2 and rest[0] == "tables":
            ident = (*ns, rest[1])
            if method == "GET":
                return 200, load_result(CATALOG.load_table(ident))
            if method == "HEAD":
                return (204, None) if CATALOG.table_exists(ident) else (404, None)
            if method == "DELETE":
                purge = query.get("purgeRequested", ["false"])[0].lower() == "true"
                (CATALOG.purge_table if purge else CATALOG.drop_table)(ident)
                return 204, None
            if method == "POST":
                return 200, commit_table(ns, rest[1], body)
    if parts == ["tables", "rename"] and method == "POST":
        src, dst = body["source"], body["destination"]
        CATALOG.rename_table((*src["namespace"], src["name"]), (*dst["namespace"], dst["name"]))
        return 204, None
    return error(400, "BadRequestException", f"no route for {method} {'/'.join(parts)}")


def config(query):
    asked = query.get("warehouse", [None])[0]
    if ARGS.warehouse_name and asked is not None and asked != ARGS.warehouse_name:
        return error(404, "NoSuchWarehouseException", f"Warehouse {asked} not found")
    return 200, {"defaults": {}, "overrides": {"prefix": ARGS.prefix} if ARGS.prefix else {}}


def token(form):
    def oauth_error(code, kind, text):
        return code, {"error": kind, "error_description": text}

    if form.get("grant_type") != ["client_credentials"]:
        return oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    if form.get("client_id") != [ARGS.client_id] or form.get("client_secret") != [ARGS.client_secret]:
        return oauth_error(401, "invalid_client", "unknown client id or wrong secret")
    return 200, {
        "access_token": ARGS.token,
        "token_type": "bearer",
        "expires_in": 3600,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("iceberg_rest: " + (fmt % args) + "\n")

    def reply(self, code, doc):
        if doc is None or self.command == "HEAD":
            data = b""
        elif isinstance(doc, pydantic.BaseModel):
            data = doc.model_dump_json().encode()  # pyiceberg's serialisation (aliases, no nulls)
        else:
            data = json.dumps(doc).encode()
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_request(self):
        # Read the body first, whatever happens next, so the connection stays usable.
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        # Split before unquoting: a %2F inside a name is not a separator.
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        if parts == ["v1", "config"] and self.command == "GET":
            return self.reply(*config(query))
        if parts == ["v1", "oauth", "tokens"] and self.command == "POST" and ARGS.client_id:
            return self.reply(*token(urllib.parse.parse_qs(raw.decode())))
        if ARGS.token and self.headers.get("Authorization") != f"Bearer {ARGS.token}":
            return self.reply(*error(401, "NotAuthorizedException", "Not authorized to make this request"))
        prefix = ["v1", *(ARGS.prefix.split("/") if ARGS.prefix else [])]
        if parts[: len(prefix)] != prefix:
            return self.reply(*error(400, "BadRequestException", f"no route for {self.command} {url.path}"))
        try:
            body = json.loads(raw) if raw else {}
            with LOCK:
                result = route(self.command, parts[len(prefix):], query, body)
        except Exception as e:  # noqa: BLE001 - every failure becomes an ErrorModel
            for cls, code, kind in ERRORS:
                if isinstance(e, cls):
                    result = error(code, kind, str(e))
                    break
            else:
                traceback.print_exc()
                result = error(500, "InternalServerError", f"{type(e).__name__}: {e}")
        return self.reply(*result)

    do_GET = do_POST = do_HEAD = do_DELETE = handle_request


def main(argv):
    global ARGS, CATALOG
    p = argparse.ArgumentParser(description="Iceberg REST catalog of the tests (pyiceberg SqlCatalog behind it)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--catalog-db", required=True, help="SQLite file of the catalog (created if absent)")
    p.add_argument("--warehouse", required=True, help="file:///abs/dir where tables are created")
    p.add_argument("--token", help="bearer token every catalog route requires")
    p.add_argument("--client-id", help="with --client-secret: enables POST /v1/oauth/tokens")
    p.add_argument("--client-secret")
    p.add_argument("--warehouse-name", help="the one warehouse name /v1/config accepts (any, when absent)")
    p.add_argument("--prefix", help="routes are /v1/PREFIX/...; /v1/config sends it as an override")
    ARGS = p.parse_args(argv[1:])
    if bool(ARGS.client_id) != bool(ARGS.client_secret):
        p.error("--client-id and --client-secret go together")
    if ARGS.client_id and not ARGS.token:
        p.error("--client-id needs --token (the token it hands out)")
    CATALOG = SqlCatalog("default", uri=f"sqlite:///{ARGS.catalog_db}", warehouse=ARGS.warehouse)
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
