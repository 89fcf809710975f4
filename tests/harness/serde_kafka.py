"""What the serializer tools (avro_tool.py, proto_tool.py, jsonschema_tool.py) share: the
registry client of a REGISTRY argument, a topic's partitions, and producing messages."""
import json
import sys

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient


def registry_client(registry):
    """REGISTRY is a URL, optionally followed by `|USER:PASSWORD` for basic auth."""
    url, _, auth = registry.partition("|")
    conf = {"url": url}
    if auth:
        conf["basic.auth.user.info"] = auth
    return SchemaRegistryClient(conf)


def partitions_of(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "serde-tool-meta"})
    parts = sorted(c.list_topics(topic, timeout=30).topics[topic].partitions.keys())
    c.close()
    return parts


def send(bootstrap, topic, items):
    """Produces each (key, value, n) of `items` to partition n % <partitions>, all acked;
    prints {"produced": count}."""
    parts = partitions_of(bootstrap, topic)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    failed = []
    n = 0
    for key, value, part in items:
        while True:
            try:
                p.produce(topic, value, key=key, partition=parts[part % len(parts)],
                          on_delivery=lambda err, _m: err and failed.append(str(err)))
                break
            except BufferError:
                p.poll(0.05)
        n += 1
    left = p.flush(120)
    if failed or left:
        sys.exit(f"produce failed: {failed[:3]}, {left} not delivered")
    print(json.dumps({"produced": n}))
