"""A DynamoDB stand-in for benchmarks: fixed latency, almost no CPU, every call counted.

The consumer benchmark (B3) wants the consumer's own cost per record: botocore building, signing,
sending and parsing each call, Powertools idempotency, parsing the envelope. moto answers
correctly but spends milliseconds of CPU per call, on the same two cores, so it hides the figure
being measured. This server answers the calls the consumer makes (``PutItem``,
``UpdateItem``, ``GetItem``, ``BatchExecuteStatement``, and the other batch writes B5 compares) with a success
after ``--latency-ms``, from one asyncio loop in its own process, and counts them.

It checks nothing: no condition expression ever fails. It is a yardstick, not an emulator; the
consumer's behaviour is tested against moto and the local runtime.

    python -m load.standin --latency-ms 5     # prints the URL it listens on, then serves
    GET /__stats                              # {"PutItem": n, "UpdateItem": n, ...}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections import Counter

_ANSWERS = {
    "PutItem": b"{}",
    "UpdateItem": b"{}",
    "GetItem": b"{}",
    "DeleteItem": b"{}",
    "BatchWriteItem": b'{"UnprocessedItems": {}}',
    "TransactWriteItems": b"{}",
}


class StandIn:
    def __init__(self, latency_ms: float) -> None:
        self.latency = latency_ms / 1000
        self.calls: Counter[str] = Counter()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                request = await reader.readexactly(length) if length else b""
                if lines[0].startswith("GET /__stats"):
                    status, body = "200 OK", json.dumps(dict(self.calls)).encode()
                else:
                    operation = headers.get("x-amz-target", "").rpartition(".")[2]
                    answer = _ANSWERS.get(operation)
                    if operation == "BatchExecuteStatement":
                        # One success per statement; the statements are counted as writes too.
                        statements = json.loads(request or b"{}").get("Statements", [])
                        self.calls["Statements"] += len(statements)
                        answer = json.dumps({"Responses": [{} for _ in statements]}).encode()
                    if answer is None:
                        status = "400 Bad Request"
                        body = json.dumps(
                            {
                                "__type": "UnknownOperationException",
                                "message": f"stand-in does not answer {operation!r}",
                            }
                        ).encode()
                    else:
                        self.calls[operation] += 1
                        await asyncio.sleep(self.latency)
                        status, body = "200 OK", answer
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n"
                    f"Content-Length: {len(body)}\r\nx-amzn-RequestId: standin\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _main(host: str, port: int, latency_ms: float) -> None:
    standin = StandIn(latency_ms)
    server = await asyncio.start_server(standin.serve, host, port)
    bound = server.sockets[0].getsockname()
    print(f"http://{bound[0]}:{bound[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port, args.latency_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
