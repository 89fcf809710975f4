"""The schema registry of the tests: the REST subset of Confluent's Schema Registry that clients
use, served on 127.0.0.1 (no Confluent-compatible registry server can be installed from the
package registries this machine reaches). Compatibility checks are permissive: every new
schema text registers as a new version.

    registry.py PORT [--user USER:PASSWORD] [--state FILE]

    POST /subjects/{subject}/versions   {"schema", "schemaType"?, "references"?} -> {"id"}
    POST /subjects/{subject}            look a schema up -> {"subject", "id", "version", "schema"}
    GET  /schemas/ids/{id}              -> {"schema", "schemaType"? (absent for AVRO), "references"?}
    GET  /schemas/ids/{id}/versions     -> [{"subject", "version"}]
    GET  /subjects                      -> [subject, ...]
    GET  /subjects/{subject}/versions   -> [1, 2, ...]
    GET  /subjects/{subject}/versions/{version|latest}
    GET  /config, PUT /config[/{subject}]  -> {"compatibilityLevel": "NONE"}

With --user, every request needs HTTP basic auth with that user and password (401 otherwise).
With --state, the schemas are kept in FILE (read at start, written at each registration), so a
restarted registry knows the ids it gave out.
Errors are Confluent's: {"error_code": 40401, "message": "..."}.
"""
import base64
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SCHEMAS = {}  # id -> {"schema", "schemaType", "references"}
SUBJECTS = {}  # subject -> [id, ...] (index = version - 1)
AUTH = None
STATE = None


def save():
    if STATE:
        with open(STATE + ".tmp", "w") as f:
            json.dump({"schemas": {str(k): v for k, v in SCHEMAS.items()}, "subjects": SUBJECTS}, f)
        import os
        os.replace(STATE + ".tmp", STATE)


def load():
    import os
    if STATE and os.path.exists(STATE):
        with open(STATE) as f:
            doc = json.load(f)
        SCHEMAS.update({int(k): v for k, v in doc["schemas"].items()})
        SUBJECTS.update(doc["subjects"])


def key_of(body):
    return (body.get("schema", ""), body.get("schemaType", "AVRO"), json.dumps(body.get("references", []), sort_keys=True))


def register(subject, body):
    with LOCK:
        want = key_of(body)
        for sid, s in SCHEMAS.items():
            if key_of(s) == want:
                found = sid
                break
        else:
            found = len(SCHEMAS) + 1
            SCHEMAS[found] = {
                "schema": body.get("schema", ""),
                "schemaType": body.get("schemaType", "AVRO"),
                "references": body.get("references", []),
            }
        versions = SUBJECTS.setdefault(subject, [])
        if found not in versions:
            versions.append(found)
        save()
        return found, versions.index(found) + 1


def schema_doc(sid):
    s = SCHEMAS[sid]
    doc = {"schema": s["schema"]}
    if s["schemaType"] != "AVRO":
        doc["schemaType"] = s["schemaType"]
    if s["references"]:
        doc["references"] = s["references"]
    return doc


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("registry: " + (fmt % args) + "\n")

    def reply(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def missing(self, code, what):
        self.reply(404, {"error_code": code, "message": what})

    def authorised(self):
        if AUTH is None:
            return True
        given = self.headers.get("Authorization", "")
        if given == "Basic " + base64.b64encode(AUTH.encode()).decode():
            return True
        self.reply(401, {"error_code": 401, "message": "Unauthorized"})
        return False

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def parts(self):
        # Subjects may hold `/` (a Protobuf reference is registered under its import name).
        return [urllib.parse.unquote(p) for p in self.path.split("?")[0].split("/") if p]

    def do_POST(self):
        if not self.authorised():
            return
        p = self.parts()
        body = self.body()
        if len(p) == 3 and p[0] == "subjects" and p[2] == "versions":
            sid, _ = register(p[1], body)
            return self.reply(200, {"id": sid})
        if len(p) == 2 and p[0] == "subjects":
            with LOCK:
                for v, sid in enumerate(SUBJECTS.get(p[1], []), 1):
                    if key_of(SCHEMAS[sid]) == key_of(body):
                        return self.reply(200, {"subject": p[1], "id": sid, "version": v, **schema_doc(sid)})
            return self.missing(40403, "Schema not found")
        return self.missing(404, "not found")

    def do_PUT(self):
        if not self.authorised():
            return
        self.body()
        return self.reply(200, {"compatibility": "NONE"})

    def do_GET(self):
        if not self.authorised():
            return
        p = self.parts()
        with LOCK:
            if len(p) >= 3 and p[0] == "schemas" and p[1] == "ids":
                try:
                    sid = int(p[2])
                except ValueError:
                    return self.missing(40403, "Schema not found")
                if sid not in SCHEMAS:
                    return self.missing(40403, f"Schema {sid} not found")
                if len(p) == 4 and p[3] == "versions":
                    return self.reply(200, [
                        {"subject": s, "version": ids.index(sid) + 1} for s, ids in SUBJECTS.items() if sid in ids
                    ])
                return self.reply(200, schema_doc(sid))
            if p == ["subjects"]:
                return self.reply(200, sorted(SUBJECTS))
            if len(p) >= 3 and p[0] == "subjects" and p[2] == "versions":
                ids = SUBJECTS.get(p[1])
                if ids is None:
                    return self.missing(40401, f"Subject '{p[1]}' not found.")
                if len(p) == 3:
                    return self.reply(200, list(range(1, len(ids) + 1)))
                v = len(ids) if p[3] == "latest" else int(p[3])
                if not 1 <= v <= len(ids):
                    return self.missing(40402, "Version not found.")
                sid = ids[v - 1]
                return self.reply(200, {"subject": p[1], "version": v, "id": sid, **schema_doc(sid)})
            if p and p[0] == "config":
                return self.reply(200, {"compatibilityLevel": "NONE"})
        return self.missing(404, "not found")


def main(argv):
    global AUTH, STATE
    port = int(argv[1])
    args = argv[2:]
    while len(args) >= 2:
        if args[0] == "--user":
            AUTH = args[1]
        elif args[0] == "--state":
            STATE = args[1]
        args = args[2:]
    load()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
