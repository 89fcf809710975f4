"""JSON Schema framed JSON for the tests, made by Confluent's own Python serializer
(confluent-kafka's JSONSerializer registering its schema with the harness's registry), and
checked back from the Delta table by Python deltalake.

Every `price` is a whole number and every `at` a string, so inference alone would make them
bigint and text: the schema says number and date-time.

    jsonschema_tool.py produce BOOTSTRAP TOPIC REGISTRY FROM COUNT
                          records FROM..FROM+COUNT, value subject TOPIC-value, partition id % <n>
    jsonschema_tool.py poison BOOTSTRAP TOPIC REGISTRY
                          on partition 0: an `id` that is not an integer (framed with the real
                          schema id), a wrong magic byte, an unknown schema id
    jsonschema_tool.py check TABLE FROM COUNT
                          JSON: rows, distinct ids, the column types, the first mismatches
"""
import datetime
import json
import os
import sys

from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from serde_kafka import registry_client, send

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "price": {"type": "number"},
        "ok": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "note": {"type": ["null", "string"]},
        "address": {"type": "object", "properties": {
            "city": {"type": "string"}, "zip": {"type": "integer"}, "lat": {"type": "number"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "scores": {"type": "array", "items": {"type": "number"}},
    },
    "required": ["id", "name", "price", "ok", "at", "day"],
}
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def record(i):
    return {
        "id": i,
        "name": f"order-{i}",
        "price": i % 1000,
        "ok": i % 3 == 0,
        "at": (EPOCH + datetime.timedelta(seconds=i * 7)).isoformat(),
        "day": (datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 365)).isoformat(),
        "note": None if i % 5 == 0 else f"n{i}",
        "address": {"city": f"city{i % 50}", "zip": 10000 + i % 90000, "lat": i % 90},
        "tags": [f"t{i % 7}"] * (i % 3),
        "scores": [i % 10, i % 4],
    }


def serializer(registry):
    return JSONSerializer(json.dumps(SCHEMA), registry_client(registry))


def produce(bootstrap, topic, registry, start, count):
    ser = serializer(registry)
    ctx = SerializationContext(topic, MessageField.VALUE)
    send(bootstrap, topic, ((str(i).encode(), ser(record(i), ctx), i) for i in range(start, start + count)))


def poison(bootstrap, topic, registry):
    good = serializer(registry)(record(1), SerializationContext(topic, MessageField.VALUE))
    bad = [
        good[:5] + json.dumps(dict(record(1), id="one")).encode(),
        b"\x07" + good[1:],
        b"\x00\x00\x00\x27\x0f" + good[5:],
    ]
    send(bootstrap, topic, ((None, b, 0) for b in bad))


def check(table, start, count):
    from deltalake import DeltaTable

    t = DeltaTable(table).to_pyarrow_table()
    types = {f.name: str(f.type) for f in t.schema if not f.name.startswith("_")}
    rows = t.to_pylist()
    ids = [r["id"] for r in rows]
    mismatches = []
    for row in rows:
        want = record(row["id"])
        got = {k: row.get(k) for k in want}
        got["at"] = got["at"].isoformat() if got["at"] is not None else None
        got["day"] = got["day"].isoformat() if got["day"] is not None else None
        for k, w in want.items():
            if got[k] != w:
                mismatches.append({"id": row["id"], "column": k, "got": repr(got[k]), "want": repr(w)})
        if len(mismatches) >= 5:
            break
    missing = sorted(set(range(start, start + count)) - set(ids))[:5]
    print(json.dumps({"rows": len(rows), "distinct": len(set(ids)), "types": types, "missing": missing,
                      "mismatches": mismatches}))


def main(argv):
    cmd = argv[1]
    if cmd == "produce":
        produce(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]))
    elif cmd == "poison":
        poison(argv[2], argv[3], argv[4])
    elif cmd == "check":
        check(argv[2], int(argv[3]), int(argv[4]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
    # deltalake's native threads can abort the interpreter's teardown ("terminate called
    # without an active exception") after the answer is printed: skip the teardown, as
    # delta_read.py does.
    sys.stdout.flush()
    os._exit(0)
