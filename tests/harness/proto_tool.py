"""Protobuf for the tests, made by Confluent's own Python serializer (confluent-kafka's
ProtobufSerializer registering its schemas, the imported `weir/address.proto` as a reference,
with the harness's registry), and checked back from the Delta table by Python deltalake.

The message types are built from descriptors here (no protoc needed): `weir/order.proto` has
`Header` first and `Order` second, so every value carries message indexes [1].

    proto_tool.py produce BOOTSTRAP TOPIC REGISTRY FROM COUNT
                          `Order` records FROM..FROM+COUNT (REGISTRY may end in `|USER:PASSWORD`),
                          value subject TOPIC-value, key str(id), partition id % <partitions>
    proto_tool.py produce-plain BOOTSTRAP TOPIC FROM COUNT
                          the same messages bare (no framing), for proto_descriptor
    proto_tool.py descriptor-set FILE
                          writes the FileDescriptorSet of order.proto and its imports to FILE
    proto_tool.py poison BOOTSTRAP TOPIC REGISTRY
                          four bad messages on partition 0: a wrong magic byte, an unknown
                          schema id, message indexes that name no message, a truncated body
    proto_tool.py check TABLE FROM COUNT
                          reads the table; JSON: rows, distinct ids, the first mismatches
"""
import datetime
import json
import os
import sys

from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2, wrappers_pb2  # noqa: F401
from serde_kafka import registry_client, send

F = descriptor_pb2.FieldDescriptorProto
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def field(name, number, kind, type_name=None, repeated=False, oneof=None):
    f = F(name=name, number=number, type=kind, label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof
    return f


def files():
    address = descriptor_pb2.FileDescriptorProto(name="weir/address.proto", package="weir.test", syntax="proto3")
    address.message_type.add(name="Address", field=[
        field("city", 1, F.TYPE_STRING), field("zip", 2, F.TYPE_INT32)])
    order = descriptor_pb2.FileDescriptorProto(
        name="weir/order.proto", package="weir.test", syntax="proto3",
        dependency=["weir/address.proto", "google/protobuf/timestamp.proto", "google/protobuf/duration.proto",
                    "google/protobuf/wrappers.proto", "google/protobuf/struct.proto"])
    order.message_type.add(name="Header", field=[field("source", 1, F.TYPE_STRING)])
    m = order.message_type.add(name="Order")
    m.enum_type.add(name="Colour", value=[
        descriptor_pb2.EnumValueDescriptorProto(name=n, number=i) for i, n in enumerate(["RED", "GREEN", "BLUE"])])
    m.nested_type.add(name="Line", field=[field("sku", 1, F.TYPE_STRING), field("count", 2, F.TYPE_INT32)])
    entry = m.nested_type.add(name="AttrsEntry", field=[field("key", 1, F.TYPE_STRING), field("value", 2, F.TYPE_INT64)])
    entry.options.map_entry = True
    m.oneof_decl.add(name="contact")
    m.field.extend([
        field("id", 1, F.TYPE_INT64),
        field("name", 2, F.TYPE_STRING),
        field("qty", 3, F.TYPE_INT32),
        field("price", 4, F.TYPE_DOUBLE),
        field("ratio", 5, F.TYPE_FLOAT),
        field("ok", 6, F.TYPE_BOOL),
        field("blob", 7, F.TYPE_BYTES),
        field("colour", 8, F.TYPE_ENUM, ".weir.test.Order.Colour"),
        field("note", 9, F.TYPE_MESSAGE, ".google.protobuf.StringValue"),
        field("tags", 10, F.TYPE_STRING, repeated=True),
        field("attrs", 11, F.TYPE_MESSAGE, ".weir.test.Order.AttrsEntry", repeated=True),
        field("address", 12, F.TYPE_MESSAGE, ".weir.test.Address"),
        field("at", 13, F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        field("wait", 14, F.TYPE_MESSAGE, ".google.protobuf.Duration"),
        field("email", 15, F.TYPE_STRING, oneof=0),
        field("phone", 16, F.TYPE_INT64, oneof=0),
        field("lines", 17, F.TYPE_MESSAGE, ".weir.test.Order.Line", repeated=True),
        field("delta", 18, F.TYPE_SINT32),
        field("big", 19, F.TYPE_UINT64),
        field("extra", 20, F.TYPE_MESSAGE, ".google.protobuf.Struct"),
        field("small", 21, F.TYPE_UINT32),
    ])
    return address, order


ADDRESS_FILE, ORDER_FILE = files()
POOL = descriptor_pool.Default()
POOL.Add(ADDRESS_FILE)
POOL.Add(ORDER_FILE)
Order = message_factory.GetMessageClass(POOL.FindMessageTypeByName("weir.test.Order"))
# The keys: the first message of the file (message index [0]), under the `<topic>-key` subject.
Header = message_factory.GetMessageClass(POOL.FindMessageTypeByName("weir.test.Header"))


def values(i):
    """The values of record i, as the table should hold them (None: null)."""
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
        "attrs": [("a", i), ("b", -i)] if i % 2 == 0 else [],
        "address": None if i % 10 == 0 else {"city": f"city{i % 50}", "zip": 10000 + i % 90000},
        "at": EPOCH + datetime.timedelta(microseconds=i * 1001),
        "wait": i * 1500,
        "email": f"u{i}@example.com" if i % 2 == 0 else None,
        "phone": None if i % 2 == 0 else 5550000 + i,
        "lines": [{"sku": f"sku{i}-{k}", "count": k + 1} for k in range(i % 4)],
        "delta": -(i % 300),
        "big": 18_000_000_000_000_000_000 + i,
        "extra": {"n": i % 10, "tag": f"x{i % 4}"} if i % 4 == 0 else None,
        "small": 4_000_000_000 + i % 1000,
    }


def message(i):
    v = values(i)
    m = Order(id=v["id"], name=v["name"], qty=v["qty"], price=v["price"], ratio=v["ratio"], ok=v["ok"],
              blob=v["blob"], colour=i % 3, tags=v["tags"], delta=v["delta"], big=v["big"], small=v["small"])
    if v["note"] is not None:
        m.note.value = v["note"]
    for k, n in v["attrs"]:
        m.attrs[k] = n
    if v["address"] is not None:
        m.address.city = v["address"]["city"]
        m.address.zip = v["address"]["zip"]
    m.at.FromDatetime(v["at"])
    m.wait.FromMicroseconds(v["wait"])
    if v["email"] is not None:
        m.email = v["email"]
    else:
        m.phone = v["phone"]
    for line in v["lines"]:
        m.lines.add(sku=line["sku"], count=line["count"])
    if v["extra"] is not None:
        m.extra.update(v["extra"])
    return m


def serializer(registry):
    return ProtobufSerializer(Order, registry_client(registry), {"use.deprecated.format": False})


def produce(bootstrap, topic, registry, start, count):
    ser = serializer(registry)
    keys = ProtobufSerializer(Header, registry_client(registry), {"use.deprecated.format": False})
    ctx = SerializationContext(topic, MessageField.VALUE)
    key_ctx = SerializationContext(topic, MessageField.KEY)
    send(bootstrap, topic, ((keys(Header(source=f"k{i}"), key_ctx), ser(message(i), ctx), i)
                            for i in range(start, start + count)))


def produce_plain(bootstrap, topic, start, count):
    send(bootstrap, topic, ((str(i).encode(), message(i).SerializeToString(), i) for i in range(start, start + count)))


def descriptor_set(path):
    s = descriptor_pb2.FileDescriptorSet()
    for name in ["google/protobuf/timestamp.proto", "google/protobuf/duration.proto",
                 "google/protobuf/wrappers.proto", "google/protobuf/struct.proto"]:
        s.file.add().ParseFromString(POOL.FindFileByName(name).serialized_pb)
    s.file.append(ADDRESS_FILE)
    s.file.append(ORDER_FILE)
    with open(path, "wb") as f:
        f.write(s.SerializeToString())
    print(json.dumps({"files": len(s.file)}))


def poison(bootstrap, topic, registry):
    good = serializer(registry)(message(1), SerializationContext(topic, MessageField.VALUE))
    assert good[5:7] == b"\x02\x02", good[:8]
    bad = [
        b"\x07" + good[1:],
        b"\x00\x00\x00\x27\x0f" + good[5:],
        good[:5] + b"\x02\x0e" + good[7:],  # indexes [7]: the file has two messages
        good[: len(good) - 3],
    ]
    send(bootstrap, topic, ((None, b, 0) for b in bad))


def as_read(row):
    r = {k: row.get(k) for k in values(0)}
    r["ratio"] = float(r["ratio"])
    r["big"] = int(r["big"])
    r["attrs"] = sorted(r["attrs"] or [])
    r["extra"] = None if r["extra"] is None else json.loads(r["extra"])
    return r


def check(table, start, count):
    from deltalake import DeltaTable

    rows = DeltaTable(table).to_pyarrow_table().to_pylist()
    ids = [r["id"] for r in rows]
    mismatches = []
    keys = 0
    for row in rows:
        got, want = as_read(row), values(row["id"])
        if isinstance(row.get("_kafka_key"), dict):  # key_format: protobuf
            got["_kafka_key"], want["_kafka_key"] = row["_kafka_key"], {"source": f"k{row['id']}"}
            keys += 1
        for k, w in want.items():
            if got[k] != w:
                mismatches.append({"id": row["id"], "column": k, "got": repr(got[k]), "want": repr(w)})
        if len(mismatches) >= 5:
            break
    missing = sorted(set(range(start, start + count)) - set(ids))[:5]
    print(json.dumps({"rows": len(rows), "distinct": len(set(ids)), "missing": missing, "mismatches": mismatches,
                      "keys_checked": keys}))


def main(argv):
    cmd = argv[1]
    if cmd == "produce":
        produce(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]))
    elif cmd == "produce-plain":
        produce_plain(argv[2], argv[3], int(argv[4]), int(argv[5]))
    elif cmd == "descriptor-set":
        descriptor_set(argv[2])
    elif cmd == "poison":
        poison(argv[2], argv[3], argv[4])
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
