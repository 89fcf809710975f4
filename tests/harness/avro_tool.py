"""Avro for the tests, made by Confluent's own Python serializer (confluent-kafka's
AvroSerializer registering its schema with the harness's registry), and checked back from the
Delta table by Python deltalake.

    avro_tool.py produce BOOTSTRAP TOPIC REGISTRY FROM COUNT [avro-keys]
                          records FROM..FROM+COUNT of the `Order` schema below (REGISTRY may end
                          in `|USER:PASSWORD` for basic auth), value subject
                          TOPIC-value, key str(id) (or with avro-keys an `OrderKey` record
                          {id}, subject TOPIC-key), partition id % <partitions>
    avro_tool.py produce-plain BOOTSTRAP TOPIC FROM COUNT
                          the same records without a registry (fastavro): even ids as plain
                          binary Avro, odd ids in single-object encoding (C3 01, the schema's
                          CRC-64-AVRO fingerprint little-endian, the body)
    avro_tool.py schema
                          prints the `Order` schema (for avro_schema)
    avro_tool.py produce-evo BOOTSTRAP TOPIC REGISTRY COUNT
                          record n of 0..COUNT in version n * 4 // COUNT + 1 of the `Evo`
                          schema (v2 adds an optional `note`, v3 promotes `qty` to long, v4
                          makes it a string), partition n % <partitions>
    avro_tool.py check-evo TABLE COUNT
                          JSON: rows, distinct ids and the first rows whose `note` or `qty`
                          (in `qty`, `qty__v_bigint` or `qty__v_text`) is not what was sent
    avro_tool.py poison BOOTSTRAP TOPIC REGISTRY
                          three bad messages on partition 0: a wrong magic byte, an id the
                          registry does not know, a truncated body
    avro_tool.py serialize TOPIC REGISTRY FROM COUNT FILE
                          records FROM..FROM+COUNT framed with version 2 of `Order` (an added
                          optional `channel`), registered now; written to FILE for `send`
    avro_tool.py send BOOTSTRAP TOPIC FILE
                          produces what `serialize` wrote (no registry needed)
    avro_tool.py check TABLE FROM COUNT
                          reads the table; JSON: rows, distinct ids and the first mismatches
                          against what `produce` sent
"""
import datetime
import decimal
import json
import os
import sys
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from serde_kafka import partitions_of, registry_client, send

SCHEMA = {
    "type": "record",
    "name": "Order",
    "namespace": "weir.test",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "price", "type": "double"},
        {"name": "ratio", "type": "float"},
        {"name": "ok", "type": "boolean"},
        {"name": "blob", "type": "bytes"},
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "address", "type": {"type": "record", "name": "Address", "fields": [
            {"name": "city", "type": "string"},
            {"name": "zip", "type": "int"},
        ]}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "code", "type": {"type": "fixed", "name": "Code", "size": 4}},
        {"name": "tod_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "tod_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "lts_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "lts_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "alt", "type": ["null", "long", "string"]},
    ],
}
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
LOCAL_EPOCH = datetime.datetime(2026, 6, 1)


def record(i):
    return {
        "id": i,
        "name": f"order-{i}",
        "qty": i % 1000 - 500,
        "price": i / 4.0,
        "ratio": (i % 8) / 8.0,
        "ok": i % 3 == 0,
        "blob": bytes([i % 256, (i // 256) % 256]),
        "colour": ["RED", "GREEN", "BLUE"][i % 3],
        "note": None if i % 5 == 0 else f"n{i}",
        "tags": [f"t{i % 7}"] * (i % 3),
        "attrs": {"a": i, "b": -i} if i % 2 == 0 else {},
        "address": {"city": f"city{i % 50}", "zip": 10000 + i % 90000},
        "amount": decimal.Decimal(i % 100000) / 100,
        "day": datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 365),
        "at": EPOCH + datetime.timedelta(microseconds=i * 1001),
        "at_ms": EPOCH + datetime.timedelta(milliseconds=i * 7),
        "code": i.to_bytes(4, "big"),
        "tod_ms": time_of_day(i * 1_000_003 % 86_400_000 * 1000),
        "tod_us": time_of_day(i * 1_000_003_001 % 86_400_000_000),
        "lts_ms": LOCAL_EPOCH + datetime.timedelta(milliseconds=i * 13),
        "lts_us": LOCAL_EPOCH + datetime.timedelta(microseconds=i * 1013),
        "ref": str(uuid.UUID(int=i * 104729 + 3)),
        "alt": None if i % 7 == 0 else i if i % 2 == 0 else f"s{i}",
    }


def time_of_day(micros):
    return (datetime.datetime.min + datetime.timedelta(microseconds=micros)).time()


def time_as_text(t):
    """A time of day as the Delta sink writes it (chrono's form: HH:MM:SS, then .mmm or
    .uuuuuu only when there is a fraction)."""
    base = t.strftime("%H:%M:%S")
    if t.microsecond == 0:
        return base
    if t.microsecond % 1000 == 0:
        return f"{base}.{t.microsecond // 1000:03}"
    return f"{base}.{t.microsecond:06}"


KEY_SCHEMA = {"type": "record", "name": "OrderKey", "namespace": "weir.test", "fields": [{"name": "id", "type": "long"}]}


def produce(bootstrap, topic, registry, start, count, avro_keys=False):
    ser = AvroSerializer(registry_client(registry), json.dumps(SCHEMA))
    key_ser = AvroSerializer(registry_client(registry), json.dumps(KEY_SCHEMA))
    key_ctx = SerializationContext(topic, MessageField.KEY)
    ctx = SerializationContext(topic, MessageField.VALUE)

    def key(i):
        return key_ser({"id": i}, key_ctx) if avro_keys else str(i).encode()

    send(bootstrap, topic, ((key(i), ser(record(i), ctx), i) for i in range(start, start + count)))


def serialize(topic, registry, start, count, path):
    schema = dict(SCHEMA, fields=SCHEMA["fields"] + [{"name": "channel", "type": ["null", "string"], "default": None}])
    ser = AvroSerializer(registry_client(registry), json.dumps(schema))
    ctx = SerializationContext(topic, MessageField.VALUE)
    with open(path, "w") as f:
        for i in range(start, start + count):
            r = dict(record(i), channel=f"c{i % 3}")
            f.write(json.dumps({"id": i, "value": ser(r, ctx).hex()}) + "\n")
    print(json.dumps({"serialized": count}))


def send_file(bootstrap, topic, path):
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    send(bootstrap, topic, ((str(m["id"]).encode(), bytes.fromhex(m["value"]), m["id"]) for m in lines))


def rabin(data):
    """CRC-64-AVRO, the Avro specification's schema fingerprint."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def produce_plain(bootstrap, topic, start, count):
    import io
    import struct

    import fastavro
    from fastavro.schema import to_parsing_canonical_form

    parsed = fastavro.parse_schema(SCHEMA)
    header = b"\xc3\x01" + struct.pack("<Q", rabin(to_parsing_canonical_form(parsed).encode()))
    parts = partitions_of(bootstrap, topic)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    for i in range(start, start + count):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, record(i))
        body = buf.getvalue() if i % 2 == 0 else header + buf.getvalue()
        p.produce(topic, body, key=str(i).encode(), partition=parts[i % len(parts)])
        p.poll(0)
    if p.flush(120):
        sys.exit("not delivered")
    print(json.dumps({"produced": count}))


def evo_schema(version):
    qty = {1: "int", 2: "int", 3: "long", 4: "string"}[version]
    fields = [{"name": "id", "type": "long"}, {"name": "qty", "type": qty},
              {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
              {"name": "alt", "type": ["long", "string"]}]
    if version >= 2:
        fields.append({"name": "note", "type": ["null", "string"], "default": None})
    return {"type": "record", "name": "Evo", "fields": fields}


def evo_record(n, count):
    version = n * 4 // count + 1
    r = {"id": n, "qty": f"q{n}" if version == 4 else n * 3, "ref": str(uuid.UUID(int=n * 7919 + 1)),
         "alt": n if n % 2 == 0 else f"s{n}"}
    if version >= 2:
        r["note"] = f"n{n}"
    return version, r


def produce_evo(bootstrap, topic, registry, count):
    client = registry_client(registry)
    sers = {v: AvroSerializer(client, json.dumps(evo_schema(v))) for v in (1, 2, 3, 4)}
    parts = partitions_of(bootstrap, topic)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    ctx = SerializationContext(topic, MessageField.VALUE)
    for n in range(count):
        version, r = evo_record(n, count)
        p.produce(topic, sers[version](r, ctx), key=str(n).encode(), partition=parts[n % len(parts)])
        p.poll(0)
    if p.flush(120):
        sys.exit("not delivered")
    print(json.dumps({"produced": count}))


def alt_as_read(v):
    """A general union as weir stores it: a struct with a field per branch."""
    return {"long": v, "string": None} if isinstance(v, int) else {"long": None, "string": v}


def check_evo(table, count):
    from deltalake import DeltaTable

    rows = DeltaTable(table).to_pyarrow_table().to_pylist()
    wrong = []
    for row in rows:
        version, want = evo_record(row["id"], count)
        held = [row.get(c) for c in ("qty", "qty__v_bigint", "qty__v_text") if row.get(c) is not None]
        if held != [want["qty"]] or row.get("note") != want.get("note") or row.get("ref") != want["ref"] \
                or row.get("alt") != alt_as_read(want["alt"]):
            wrong.append({"row": {k: v for k, v in row.items() if not k.startswith("_")}, "want": want})
        if len(wrong) >= 5:
            break
    columns = sorted(k for k in (rows[0] if rows else {}) if not k.startswith("_"))
    print(json.dumps({"rows": len(rows), "distinct": len({r["id"] for r in rows}), "columns": columns, "wrong": wrong}, default=repr))


def poison(bootstrap, topic, registry):
    ser = AvroSerializer(registry_client(registry), json.dumps(SCHEMA))
    good = ser(record(0), SerializationContext(topic, MessageField.VALUE))
    bad = [b"\x07" + good[1:], b"\x00\x00\x00\x27\x0f" + good[5:], good[: len(good) // 2]]
    p = Producer({"bootstrap.servers": bootstrap})
    for b in bad:
        p.produce(topic, b, partition=0)
    if p.flush(60):
        sys.exit("not delivered")
    print(json.dumps({"produced": len(bad)}))


def expected(i):
    r = record(i)
    r["blob"] = list(r["blob"])
    r["amount"] = str(r["amount"].quantize(decimal.Decimal("0.01")))
    r["day"] = r["day"].isoformat()
    r["at"] = r["at"].isoformat()
    r["at_ms"] = r["at_ms"].isoformat()
    r["attrs"] = sorted(r["attrs"].items())
    r["code"] = list(r["code"])
    r["tod_ms"], r["tod_us"] = time_as_text(r["tod_ms"]), time_as_text(r["tod_us"])
    r["lts_ms"], r["lts_us"] = r["lts_ms"].isoformat(), r["lts_us"].isoformat()
    r["alt"] = None if r["alt"] is None else alt_as_read(r["alt"])
    return r


def as_read(row):
    r = {k: row[k] for k in SCHEMA_NAMES}
    r["blob"] = list(r["blob"])
    r["amount"] = str(r["amount"].quantize(decimal.Decimal("0.01")))
    r["day"] = r["day"].isoformat()
    r["at"] = r["at"].isoformat()
    r["at_ms"] = r["at_ms"].isoformat()
    r["attrs"] = sorted(r["attrs"] or [])
    r["ratio"] = float(r["ratio"])
    r["code"] = list(r["code"])
    # Local timestamps come back naive (Delta's timestamp_ntz); a zone would be a mismatch.
    r["lts_ms"], r["lts_us"] = r["lts_ms"].isoformat(), r["lts_us"].isoformat()
    return r


SCHEMA_NAMES = [f["name"] for f in SCHEMA["fields"]]


def check(table, start, count):
    from deltalake import DeltaTable

    rows = DeltaTable(table).to_pyarrow_table().to_pylist()
    ids = [r["id"] for r in rows]
    mismatches = []
    for row in rows:
        got, want = as_read(row), expected(row["id"])
        for k in SCHEMA_NAMES:
            if got[k] != want[k]:
                mismatches.append({"id": row["id"], "column": k, "got": repr(got[k]), "want": repr(want[k])})
        key = row.get("_kafka_key")
        if isinstance(key, dict) and key != {"id": row["id"]}:
            mismatches.append({"id": row["id"], "column": "_kafka_key", "got": repr(key)})
        if len(mismatches) >= 5:
            break
    missing = sorted(set(range(start, start + count)) - set(ids))[:5]
    keys = sum(1 for r in rows if isinstance(r.get("_kafka_key"), dict))
    print(json.dumps({"rows": len(rows), "distinct": len(set(ids)), "missing": missing, "mismatches": mismatches,
                      "avro_keys": keys}))


def main(argv):
    cmd = argv[1]
    if cmd == "produce":
        produce(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]), argv[7:] == ["avro-keys"])
    elif cmd == "produce-plain":
        produce_plain(argv[2], argv[3], int(argv[4]), int(argv[5]))
    elif cmd == "schema":
        print(json.dumps(SCHEMA))
    elif cmd == "produce-evo":
        produce_evo(argv[2], argv[3], argv[4], int(argv[5]))
    elif cmd == "check-evo":
        check_evo(argv[2], int(argv[3]))
    elif cmd == "poison":
        poison(argv[2], argv[3], argv[4])
    elif cmd == "serialize":
        serialize(argv[2], argv[3], int(argv[4]), int(argv[5]), argv[6])
    elif cmd == "send":
        send_file(argv[2], argv[3], argv[4])
    elif cmd == "check":
        check(argv[2], int(argv[3]), int(argv[4]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
    # deltalake's native threads can abort the interpreter's teardown after the answer is
    # printed: skip the teardown, as delta_read.py does.
    sys.stdout.flush()
    os._exit(0)
