"""An independent NATS JetStream publisher and checker for the tests (nats-py).

    nats_tool.py stream URL NAME SUBJECT [MAX]    create (or update) a file-backed stream, keeping
                                                  at most MAX messages when given
    nats_tool.py publish URL PREFIX FROM COUNT [RATE]
                                                  publish {"id": i, ...} for i in FROM..FROM+COUNT
                                                  on PREFIX.<i % 4>, optionally RATE messages/s
    nats_tool.py publish-raw URL SUBJECT TEXT     publish one message with this payload
    nats_tool.py publish-lines URL SUBJECT FILE   publish each line of FILE as one message, in order
    nats_tool.py publish-headers URL SUBJECT COUNT
                                                  {"id": i} for i in 0..COUNT with headers
                                                  trace=t<i> and lang=fr (NATS header values
                                                  are text)
    nats_tool.py consumer URL STREAM DURABLE      consumer info as JSON
    nats_tool.py stream-info URL STREAM           stream state as JSON

With NATS_TOOL_CA set, TLS trusting that CA (and presenting NATS_TOOL_CERT and NATS_TOOL_KEY
when set, for servers that verify clients).
"""
import asyncio
import json
import os
import ssl
import sys
import time

import nats
from nats.js.api import StreamConfig, StorageType


async def main(argv):
    cmd, url = argv[1], argv[2]
    tls = {}
    if os.environ.get("NATS_TOOL_CA"):
        ctx = ssl.create_default_context(cafile=os.environ["NATS_TOOL_CA"])
        if os.environ.get("NATS_TOOL_CERT"):
            ctx.load_cert_chain(os.environ["NATS_TOOL_CERT"], os.environ["NATS_TOOL_KEY"])
        tls = {"tls": ctx, "tls_hostname": "127.0.0.1"}
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=60, reconnect_time_wait=0.5, **tls)
    js = nc.jetstream(timeout=30)
    try:
        if cmd == "stream":
            name, subject = argv[3], argv[4]
            limit = int(argv[5]) if len(argv) > 5 else -1
            cfg = StreamConfig(name=name, subjects=[subject], storage=StorageType.FILE, max_msgs=limit)
            try:
                await js.add_stream(cfg)
            except Exception:
                await js.update_stream(cfg)
            print(json.dumps({"stream": name}))
        elif cmd == "publish":
            prefix, start, count = argv[3], int(argv[4]), int(argv[5])
            rate = float(argv[6]) if len(argv) > 6 else 0.0
            t0 = time.monotonic()
            chunk = 500 if rate == 0 else max(1, int(rate / 20))
            i = start
            end = start + count
            while i < end:
                n = min(chunk, end - i)
                futs = []
                for j in range(i, i + n):
                    body = json.dumps({"id": j, "user": f"user{j % 977}", "amount": j % 1000 / 10.0, "note": "x" * 200})
                    futs.append(js.publish(f"{prefix}.{j % 4}", body.encode()))
                await asyncio.gather(*futs)
                i += n
                if rate > 0:
                    due = t0 + (i - start) / rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
            print(json.dumps({"published": count}))
        elif cmd == "publish-raw":
            subject, text = argv[3], argv[4]
            ack = await js.publish(subject, text.encode())
            print(json.dumps({"seq": ack.seq}))
        elif cmd == "publish-headers":
            subject, count = argv[3], int(argv[4])
            for i in range(count):
                headers = {"trace": f"t{i}", "lang": "fr"}
                await js.publish(subject, json.dumps({"id": i}).encode(), headers=headers)
            print(json.dumps({"published": count}))
        elif cmd == "publish-lines":
            subject, path = argv[3], argv[4]
            n = 0
            with open(path, "rb") as fh:
                for line in fh:
                    await js.publish(subject, line.rstrip(b"\n"))
                    n += 1
            print(json.dumps({"published": n}))
        elif cmd == "consumer":
            info = await js.consumer_info(argv[3], argv[4])
            print(json.dumps({
                "ack_floor_stream_seq": info.ack_floor.stream_seq,
                "delivered_stream_seq": info.delivered.stream_seq,
                "num_pending": info.num_pending,
                "num_ack_pending": info.num_ack_pending,
                "num_redelivered": info.num_redelivered,
                "ack_wait_s": info.config.ack_wait,
            }))
        elif cmd == "stream-info":
            info = await js.stream_info(argv[3])
            print(json.dumps({"last_seq": info.state.last_seq, "messages": info.state.messages}))
        else:
            sys.exit(f"unknown command {cmd}")
    finally:
        await nc.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv))
