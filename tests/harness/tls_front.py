"""A TLS front for a plaintext server: terminates TLS with Python's ssl (OpenSSL) and forwards
the bytes to a port on 127.0.0.1, as a TLS-terminating proxy (stunnel, Envoy) does in front of
a broker. The tests put it before tansu, whose 0.6.0 release parses `--cert`/`--key` but never
wraps its connections in TLS.

    tls_front.py LISTEN_PORT TARGET_PORT CERT KEY [CLIENT_CA]

With CLIENT_CA, a client must present a certificate signed by it (mutual TLS).
"""
import asyncio
import ssl
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


def handler(target):
    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError as e:
            print(f"cannot reach 127.0.0.1:{target}: {e}", flush=True)
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    return handle


async def main(listen, target, cert, key, client_ca):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    server = await asyncio.start_server(handler(target), "127.0.0.1", listen, ssl=ctx)
    print(f"TLS on 127.0.0.1:{listen} -> 127.0.0.1:{target}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (4, 5):
        sys.exit(__doc__)
    asyncio.run(main(int(args[0]), int(args[1]), args[2], args[3], args[4] if len(args) == 5 else None))
