"""An independent Kafka producer and checker for the tests (Python confluent-kafka).

    kafka_tool.py produce BOOTSTRAP TOPIC FROM COUNT [RATE] [SIZE]
                                  produce {"id": i, ...} for i in FROM..FROM+COUNT, key str(i),
                                  to partition i % <partitions>, optionally RATE messages/s;
                                  SIZE pads the note to about SIZE bytes per message
    kafka_tool.py produce-updates BOOTSTRAP TOPIC COUNT KEYS
                                  update n in 0..COUNT: {"id": n * 7 % KEYS, "version": n,
                                  "note": "v<n>"}, key str(id), to partition id % <partitions>
                                  (one key, one partition: its updates stay in order)
    kafka_tool.py produce-raw BOOTSTRAP TOPIC PARTITION TEXT
                                  one message with this payload
    kafka_tool.py produce-headers BOOTSTRAP TOPIC COUNT
                                  {"id": i} for i in 0..COUNT, to partition 0, with headers
                                  trace=t<i>, blob=bytes [0xff, i % 256] and, for even i,
                                  tag=a and tag=b (one name twice)
    kafka_tool.py offsets BOOTSTRAP GROUP TOPIC
                                  JSON: the group's committed offset and the high watermark
                                  per partition
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def partitions_of(conf, topic):
    c = Consumer({**conf, "group.id": "kafka-tool-meta"})
    md = c.list_topics(topic, timeout=30)
    parts = sorted(md.topics[topic].partitions.keys())
    c.close()
    return parts


def produce(bootstrap, topic, start, count, rate=0.0, size=300):
    conf = {"bootstrap.servers": bootstrap}
    parts = partitions_of(conf, topic)
    p = Producer({**conf, "linger.ms": 20, "batch.num.messages": 10000, "queue.buffering.max.messages": 200000, "acks": "all"})
    failed = []
    newest = [0]

    def done(err, msg):
        if err is not None:
            failed.append(str(err))
        else:
            newest[0] = max(newest[0], msg.timestamp()[1])

    pad = "x" * max(0, size - 80)
    t0 = time.monotonic()
    for i in range(start, start + count):
        body = json.dumps({"id": i, "user": f"user{i % 977}", "amount": i % 1000 / 10.0, "note": pad})
        while True:
            try:
                p.produce(topic, body.encode(), key=str(i).encode(), partition=parts[i % len(parts)], on_delivery=done)
                break
            except BufferError:
                p.poll(0.05)
        if rate > 0:
            due = t0 + (i - start + 1) / rate
            delay = due - time.monotonic()
            if delay > 0:
                p.flush(delay) if delay > 0.01 else time.sleep(delay)
        elif i % 1000 == 0:
            p.poll(0)
    left = p.flush(120)
    if failed or left:
        sys.exit(f"produce failed: {len(failed)} errors ({failed[:3]}), {left} not delivered")
    # The newest message timestamp (CreateTime, ms), for tests that cut the log by time.
    print(json.dumps({"produced": count, "newest_timestamp_ms": newest[0]}))


def produce_updates(bootstrap, topic, count, keys):
    conf = {"bootstrap.servers": bootstrap}
    parts = partitions_of(conf, topic)
    p = Producer({**conf, "linger.ms": 20, "acks": "all"})
    failed = []

    def done(err, _msg):
        if err is not None:
            failed.append(str(err))

    for n in range(count):
        key = n * 7 % keys
        body = json.dumps({"id": key, "version": n, "note": f"v{n}"})
        while True:
            try:
                p.produce(topic, body.encode(), key=str(key).encode(), partition=parts[key % len(parts)], on_delivery=done)
                break
            except BufferError:
                p.poll(0.05)
    left = p.flush(120)
    if failed or left:
        sys.exit(f"produce failed: {len(failed)} errors ({failed[:3]}), {left} not delivered")
    print(json.dumps({"produced": count}))


def offsets(bootstrap, group, topic):
    conf = {"bootstrap.servers": bootstrap}
    parts = partitions_of(conf, topic)
    c = Consumer({**conf, "group.id": group, "enable.auto.commit": False})
    committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=30)
    out = {"committed": {}, "high": {}}
    for tp in committed:
        out["committed"][str(tp.partition)] = tp.offset
        _low, high = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=30)
        out["high"][str(tp.partition)] = high
    c.close()
    print(json.dumps(out))


def main(argv):
    cmd = argv[1]
    if cmd == "produce":
        rate = float(argv[6]) if len(argv) > 6 else 0.0
        size = int(argv[7]) if len(argv) > 7 else 300
        produce(argv[2], argv[3], int(argv[4]), int(argv[5]), rate, size)
    elif cmd == "produce-updates":
        produce_updates(argv[2], argv[3], int(argv[4]), int(argv[5]))
    elif cmd == "produce-raw":
        p = Producer({"bootstrap.servers": argv[2]})
        p.produce(argv[3], argv[5].encode(), partition=int(argv[4]))
        if p.flush(60):
            sys.exit("not delivered")
        print(json.dumps({"produced": 1}))
    elif cmd == "produce-headers":
        p = Producer({"bootstrap.servers": argv[2]})
        for i in range(int(argv[4])):
            headers = [("trace", f"t{i}".encode()), ("blob", bytes([0xFF, i % 256]))]
            if i % 2 == 0:
                headers += [("tag", b"a"), ("tag", b"b")]
            p.produce(argv[3], json.dumps({"id": i}).encode(), partition=0, headers=headers)
        if p.flush(60):
            sys.exit("not delivered")
        print(json.dumps({"produced": int(argv[4])}))
    elif cmd == "offsets":
        offsets(argv[2], argv[3], argv[4])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
