"""Checks `iceberg_rest.py` against pyiceberg's own RestCatalog client (and, where the shape of
iceberg-rust's requests matters, against raw HTTP shaped like them). Starts two servers on free
127.0.0.1 ports in a temporary directory: one open, one with a prefix, a bearer token and the
OAuth client-credentials route. Exits 1 on any failure, else prints {"checks": N}.

    iceberg_rest_check.py
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pyarrow as pa
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import CommitFailedException, RESTError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "iceberg_rest.py")
TOKEN, CLIENT_ID, SECRET, PREFIX = "t0ken", "weir-client", "s3cret", "weir"
FAILURES = []
CHECKS = [0]


def check(ok, what):
    CHECKS[0] += 1
    if not ok:
        FAILURES.append(what)
        sys.stderr.write(f"iceberg_rest_check: FAILED: {what}\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, dir, *extra):
        self.port = free_port()
        self.dir = dir
        self.cmd = [sys.executable, SERVER, "--port", str(self.port), "--catalog-db", f"{dir}/catalog.db",
                    "--warehouse", f"file://{dir}/warehouse", *extra]
        self.log = open(f"{dir}/server.log", "ab")
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:  # ready when the port accepts connections, as tests/harness/server.rs waits
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not listen: {open(f'{self.dir}/server.log').read()}")
                time.sleep(0.05)  # pacing the poll of the port, not synchronisation

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    @property
    def uri(self):
        return f"http://127.0.0.1:{self.port}"


def http(method, url, doc=None, token=None):
    """(status, parsed JSON body or None) of one raw request."""
    req = urllib.request.Request(url, method=method, data=json.dumps(doc).encode() if doc is not None else None,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, json.loads(raw) if raw else None


def rows(start, n):
    day = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("ts", pa.timestamp("us", "UTC"), nullable=False),
                        pa.field("kind", pa.string())])
    return pa.table({
        "id": range(start, start + n),
        "ts": [datetime.fromtimestamp(day + i * 3600, timezone.utc) for i in range(n)],
        "kind": [["a", "b"][i % 2] for i in range(n)],
    }, schema=schema)


def scenario(cat, base, token):
    """Namespaces, a partitioned table, two appends, reads, a stale commit, raw iceberg-rust shapes."""
    ns = ("weir", "e2e")
    cat.create_namespace(ns, {"owner": "weir"})
    check(("weir", "e2e") in cat.list_namespaces(("weir",)), "nested namespace listed under its parent")
    check(cat.load_namespace_properties(ns).get("owner") == "weir", "namespace properties kept")
    path = f"{base}/namespaces/weir%1Fe2e"
    check(http("HEAD", path, token=token)[0] == 204, "HEAD of an existing namespace is 204")
    check(http("HEAD", f"{base}/namespaces/nope", token=token)[0] == 404, "HEAD of a missing namespace is 404")
    status, doc = http("POST", f"{base}/namespaces", {"namespace": list(ns)}, token)
    check(status == 409 and doc["error"]["type"] == "AlreadyExistsException", f"duplicate namespace: {status} {doc}")

    schema = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "ts", TimestamptzType(), required=True),
                    NestedField(3, "kind", StringType(), required=False))
    # Identity only: pyiceberg 0.12 writes time transforms through the optional pyiceberg-core.
    spec = PartitionSpec(PartitionField(3, 1000, IdentityTransform(), "kind"))
    # No client-side retries (the sink's setting), so a lost commit surfaces as the 409 itself.
    tbl = cat.create_table((*ns, "events"), schema, partition_spec=spec, properties={"commit.retry.num-retries": "0"})
    check([f.name for f in tbl.spec().fields] == ["kind"], "partition spec created")
    tbl.append(rows(0, 48), snapshot_properties={"weir.checkpoint": "1"})
    first = tbl.current_snapshot().snapshot_id
    stale = cat.load_table((*ns, "events"))
    tbl.append(rows(48, 24), snapshot_properties={"weir.checkpoint": "2"})

    loaded = cat.load_table((*ns, "events"))
    snaps = loaded.snapshots()
    check(len(snaps) == 2, f"two snapshots, got {len(snaps)}")
    head = loaded.current_snapshot()
    check(head.parent_snapshot_id == first, "second snapshot's parent is the first")
    check(head.summary.additional_properties.get("weir.checkpoint") == "2", f"snapshot property kept: {head.summary}")
    check(snaps[0].summary.additional_properties.get("weir.checkpoint") == "1", "first snapshot's property kept")
    ids = sorted(loaded.scan().to_arrow()["id"].to_pylist())
    check(ids == list(range(72)), f"scan returns exactly the 72 rows appended, got {len(ids)}")

    try:
        stale.append(rows(100, 1))
        check(False, "a commit from a stale table was accepted")
    except CommitFailedException:
        check(True, "stale commit rejected")
    check(len(cat.load_table((*ns, "events")).snapshots()) == 2, "stale commit changed nothing")

    # The commit iceberg-rust sends: identifier, UUID and ref requirements; here the ref is stale.
    status, doc = http("POST", f"{path}/tables/events", {
        "identifier": {"namespace": list(ns), "name": "events"},
        "requirements": [{"type": "assert-table-uuid", "uuid": str(loaded.metadata.table_uuid)},
                         {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": first}],
        "updates": [{"action": "set-properties", "updates": {"weir.x": "1"}}],
    }, token)
    check(status == 409 and doc["error"]["type"] == "CommitFailedException" and doc["error"]["code"] == 409,
          f"stale AssertRefSnapshotId gives 409 CommitFailedException: {status} {doc}")
    # A fast append as iceberg-rust serialises it (a snapshot that reuses the head's manifest
    # list, so the rows stay the same), with a current ref: it applies.
    md = loaded.metadata
    snapshot = {"snapshot-id": head.snapshot_id + 1, "parent-snapshot-id": head.snapshot_id,
                "sequence-number": md.last_sequence_number + 1, "timestamp-ms": int(time.time() * 1000),
                "manifest-list": head.manifest_list, "summary": {"operation": "append", "weir.checkpoint": "3"},
                "schema-id": md.current_schema_id}
    status, doc = http("POST", f"{path}/tables/events", {
        "identifier": {"namespace": list(ns), "name": "events"},
        "requirements": [{"type": "assert-table-uuid", "uuid": str(md.table_uuid)},
                         {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": head.snapshot_id}],
        "updates": [{"action": "add-snapshot", "snapshot": snapshot},
                    {"action": "set-snapshot-ref", "ref-name": "main", "snapshot-id": head.snapshot_id + 1, "type": "branch"},
                    {"action": "set-properties", "updates": {"weir.x": "1"}}],
    }, token)
    check(status == 200 and doc["metadata"]["current-snapshot-id"] == head.snapshot_id + 1
          and doc["metadata"]["properties"].get("weir.x") == "1" and doc["metadata-location"] != loaded.metadata_location,
          f"an iceberg-rust-shaped append with a current ref applies: {status} {doc}")
    now = cat.load_table((*ns, "events"))
    check(now.current_snapshot().summary.additional_properties.get("weir.checkpoint") == "3"
          and len(now.scan().to_arrow()) == 72, "the appended snapshot is the head and reads back")

    # The create iceberg-rust sends: an unbound spec (no field ids), no location or write order.
    status, doc = http("POST", f"{path}/tables", {
        "name": "unbound",
        "schema": {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": True, "type": "long"},
                                                                {"id": 2, "name": "ts", "required": True, "type": "timestamptz"}]},
        "partition-spec": {"fields": [{"source-id": 2, "name": "ts_day", "transform": "day"}]},
        "stage-create": False,
        "properties": {"commit.retry.num-retries": "0"},
    }, token)
    check(status == 200 and doc["metadata-location"] and doc["metadata"]["partition-specs"][0]["fields"][0]["field-id"] == 1000,
          f"create with an unbound partition spec: {status} {doc}")
    status, doc = http("POST", f"{path}/tables", {"name": "unbound", "schema": {"type": "struct", "fields": []}}, token)
    check(status == 409 and doc["error"]["type"] == "AlreadyExistsException", f"duplicate table: {status} {doc}")
    cat.rename_table((*ns, "unbound"), (*ns, "renamed"))
    check(http("HEAD", f"{path}/tables/renamed", token=token)[0] == 204, "renamed table exists")
    check(http("DELETE", f"{path}/tables/renamed", token=token)[0] == 204, "DELETE of a table is 204")
    check(http("HEAD", f"{path}/tables/renamed", token=token)[0] == 404, "dropped table is gone")
    status, doc = http("GET", f"{path}/tables/renamed", token=token)
    check(status == 404 and doc["error"]["type"] == "NoSuchTableException", f"load of a missing table: {status} {doc}")
    status, doc = http("GET", f"{base}/namespaces/nope/tables", token=token)
    check(status == 404 and doc["error"]["type"] == "NoSuchNamespaceException", f"tables of a missing namespace: {status} {doc}")
    check(cat.list_tables(ns) == [(*ns, "events")], "list_tables")
    return (*ns, "events"), now.metadata_location


def run(root):
    open_dir, auth_dir = f"{root}/open", f"{root}/auth"
    os.makedirs(open_dir)
    os.makedirs(auth_dir)
    plain = Server(open_dir)
    auth = Server(auth_dir, "--prefix", PREFIX, "--token", TOKEN, "--client-id", CLIENT_ID, "--client-secret", SECRET)
    try:
        status, doc = http("GET", f"{plain.uri}/v1/config")
        check(status == 200 and doc == {"defaults": {}, "overrides": {}}, f"config without prefix: {doc}")
        scenario(RestCatalog("open", uri=plain.uri), f"{plain.uri}/v1", None)

        status, doc = http("GET", f"{auth.uri}/v1/config?warehouse=weir")
        check(status == 200 and doc["overrides"] == {"prefix": PREFIX}, f"config needs no token, sends the prefix: {doc}")
        base = f"{auth.uri}/v1/{PREFIX}"
        status, doc = http("GET", f"{base}/namespaces", token="wrong")
        check(status == 401 and doc["error"]["type"] == "NotAuthorizedException", f"wrong token: {status} {doc}")
        check(http("GET", f"{base}/namespaces")[0] == 401, "no token is 401")
        try:
            RestCatalog("bad", uri=auth.uri, token="wrong").list_namespaces()
            check(False, "the client with a wrong token was let in")
        except RESTError:
            check(True, "wrong token refused")
        try:
            RestCatalog("bad", uri=auth.uri, credential=f"{CLIENT_ID}:wrong").list_namespaces()
            check(False, "a wrong client secret got a token")
        except RESTError:
            check(True, "wrong client secret refused")
        # The credential is exchanged at /v1/oauth/tokens; the prefix comes from /v1/config.
        cat = RestCatalog("auth", uri=auth.uri, credential=f"{CLIENT_ID}:{SECRET}", warehouse="weir")
        ident, location = scenario(cat, base, TOKEN)
        check(RestCatalog("tok", uri=auth.uri, token=TOKEN).table_exists(ident), "the static token works too")

        auth.stop()
        auth.start()
        again = RestCatalog("again", uri=auth.uri, credential=f"{CLIENT_ID}:{SECRET}").load_table(ident)
        check(again.metadata.properties.get("weir.x") == "1" and len(again.snapshots()) == 3,
              "a restarted server has the table as it was")
        check(again.metadata_location == location, "the last commit's metadata is the one loaded")
    finally:
        plain.stop()
        auth.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="weir-iceberg-check-") as root:
        try:
            run(root)
        except Exception:  # noqa: BLE001 - any error fails the check, with the servers' logs
            traceback.print_exc()
            for name in ("open", "auth"):
                log = f"{root}/{name}/server.log"
                if os.path.exists(log):
                    sys.stderr.write(f"--- {name} server log ---\n{open(log).read()}")
            FAILURES.append("exception")
    if FAILURES:
        sys.stderr.write(f"iceberg_rest_check: {len(FAILURES)} of {CHECKS[0]} checks failed\n")
        sys.exit(1)
    print(json.dumps({"checks": CHECKS[0]}))


if __name__ == "__main__":
    main()
