#!/usr/bin/env python3
"""Writes the sample Lambda Kinesis events under events/ (deterministic, byte-identical).

    python3 scripts/make-events.py              # (re)write events/
    python3 scripts/make-events.py --out DIR    # write somewhere else
    python3 scripts/make-events.py --check      # exit 1 if events/ is stale

The files are committed so that `sam local invoke -e events/…`, the integration tests and
people reading the repository all see the same bytes. Everything that would normally vary
(gzip mtime and OS byte, timestamps, ids) is fixed here, so a diff in events/ always means the
content changed. Only the deflate stream itself depends on the local zlib build; --check
therefore compares decoded content when bytes differ, so a different zlib (zlib-ng, …) on a CI
runner does not report a stale file that is not.

Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import struct
import sys
import tempfile
import zlib
from pathlib import Path

ACCOUNT = "123456789012"
REGION = "us-east-1"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/log-forwarder"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/log-forwarder"
SHARD_ID = "shardId-000000000000"

# 2026-11-22T10:00:00Z. Fixed so that documents land in a predictable daily index.
BASE_MS = 1_795_341_600_000

# Kinesis sequence numbers are 56-digit decimals that grow within a shard.
BASE_SEQUENCE = 49_657_320_810_453_245_962_386_419_204_773_946_581_276_314_842_915_340_290
SEQUENCE_STEP = 10_000_000_000_000_000_000

FILES = ("cloudwatch-data.json", "cloudwatch-control.json", "poison-record.json")


def gzip_bytes(data: bytes) -> bytes:
    """A single gzip member with a fixed header.

    gzip.compress(mtime=0) would delegate to zlib, which writes the build platform's OS byte;
    writing the header by hand keeps the files identical on Linux, macOS and Windows.
    """
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    # magic, CM=deflate, FLG=0, MTIME=0, XFL=0, OS=255 (unknown)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def digits(key: str, n: int = 56) -> str:
    """n decimal digits derived from key: stable, unique in practice, no leading zero."""
    value = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    text = str(value % (9 * 10 ** (n - 1)) + 10 ** (n - 1))
    assert len(text) == n
    return text


def partition_key(key: str) -> str:
    return hashlib.md5(key.encode()).hexdigest()


def cloudwatch_payload(file: str, log_group: str, log_stream: str, messages: list[tuple[int, str]]) -> bytes:
    """A DATA_MESSAGE; messages are (ms offset from BASE_MS, text). Ids are derived from the
    file name too, so that loading every sample into one index never collides."""
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["log-forwarder"],
        "logEvents": [
            {
                "id": digits(f"{file}|{log_group}|{log_stream}|{offset}|{i}"),
                "timestamp": BASE_MS + offset,
                "message": text,
            }
            for i, (offset, text) in enumerate(messages)
        ],
    }
    # CloudWatch Logs sends compact JSON.
    return json.dumps(payload, separators=(",", ":")).encode()


def control_payload() -> bytes:
    payload = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {
                "id": "",
                "timestamp": BASE_MS,
                "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.",
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def event(records: list[tuple[str, bytes]]) -> dict:
    """The Lambda event for records given as (partition key seed, record bytes)."""
    out = []
    for i, (key, data) in enumerate(records):
        sequence = str(BASE_SEQUENCE + i * SEQUENCE_STEP)
        out.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": partition_key(key),
                    "sequenceNumber": sequence,
                    "data": b64(data),
                    # Seconds, with the millisecond fraction Kinesis reports.
                    "approximateArrivalTimestamp": (BASE_MS + 2_000 + i * 137) / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD_ID}:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": ROLE_ARN,
                "awsRegion": REGION,
                "eventSourceARN": STREAM_ARN,
            }
        )
    return {"Records": out}


LAMBDA_GROUP = "/aws/lambda/checkout-api"
LAMBDA_STREAM = "2026/11/22/[$LATEST]5f1c0a7e9b2d4c3a8e6f1b0d9c2a7e4f"
APIGW_GROUP = "/aws/apigateway/access-logs"
APIGW_STREAM = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
REQUEST_ID = "8f5c2a1e-3b4d-4e6f-9a0b-7c1d2e3f4a5b"


def lambda_invocation() -> list[tuple[int, str]]:
    # Lambda's own lines end in a newline and REPORT separates its fields with tabs, exactly as
    # the runtime writes them: both exercise the escaped-message path.
    return [
        (0, f"START RequestId: {REQUEST_ID} Version: $LATEST\n"),
        (4, '{"level":"info","msg":"order placed","order_id":"o-123","latency_ms":41}'),
        (
            9,
            f'2026-11-22T10:00:00.009Z\t{REQUEST_ID}\tWARN\tretrying "payments" call '
            'after timeout (attempt 2/3)\n',
        ),
        # Secrets the forwarder must mask (fake, correctly shaped values).
        (
            10,
            f"2026-11-22T10:00:00.010Z\t{REQUEST_ID}\tINFO\tcalling payments with "
            "Authorization: Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc\n",
        ),
        (
            11,
            '{"level":"debug","msg":"payment request","card":{"number":"4111 1111 1111 1111",'
            '"cvv":"123"},"apiKey":"ak-demo-7f3a9c2e1b5d"}',
        ),
        (12, f"END RequestId: {REQUEST_ID}\n"),
        (
            12,
            f"REPORT RequestId: {REQUEST_ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 70 MB\t\n",
        ),
    ]


def access_log(offset: int, request_id: str, method: str, path: str, status: int, length: int) -> tuple[int, str]:
    entry = {
        "requestId": request_id,
        "ip": "203.0.113.42",
        "caller": "-",
        "user": "-",
        "requestTime": "22/Nov/2026:10:00:01 +0000",
        "httpMethod": method,
        "resourcePath": path,
        "status": str(status),
        "protocol": "HTTP/1.1",
        "responseLength": str(length),
        "integrationLatency": "14",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) checkout-web/4.2",
    }
    return offset, json.dumps(entry, separators=(",", ":"))


def apigw_messages() -> list[tuple[int, str]]:
    return [
        access_log(1_000, "c7d1e2f3-a4b5-4c6d-8e9f-0a1b2c3d4e5f", "POST", "/orders", 201, 87),
        access_log(1_250, "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b", "GET", "/orders/{id}", 200, 412),
    ]


def build() -> dict[str, bytes]:
    def record(file: str, group: str, stream: str, messages: list[tuple[int, str]]) -> tuple[str, bytes]:
        return group, gzip_bytes(cloudwatch_payload(file, group, stream, messages))

    data = event(
        [
            record("cloudwatch-data", LAMBDA_GROUP, LAMBDA_STREAM, lambda_invocation()),
            record("cloudwatch-data", APIGW_GROUP, APIGW_STREAM, apigw_messages()),
        ]
    )
    control = event([("control", gzip_bytes(control_payload()))])

    # 0xff opens a deflate block of reserved type 3, so every inflater rejects it at once
    # (instead of possibly reading garbage as a stored block); the tail keeps the record
    # longer than the smallest valid gzip member.
    bad_gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" + b"this is not a deflate stream"
    # Plain text is a valid record of its own (one document per line); what is poison is a
    # subscription payload that breaks off.
    bad_json = gzip_bytes(
        b'{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/orders",'
        b'"logStream":"2026/11/22/[$LATEST]0","subscriptionFilters":["f"],"logEvents":[{"id":"1",'
    )
    poison = event(
        [
            record("poison-record", LAMBDA_GROUP, LAMBDA_STREAM, lambda_invocation()[:2]),
            ("bad-gzip", bad_gzip),
            ("bad-json", bad_json),
            record("poison-record", APIGW_GROUP, APIGW_STREAM, apigw_messages()[:1]),
        ]
    )

    files = {"cloudwatch-data.json": data, "cloudwatch-control.json": control, "poison-record.json": poison}
    assert tuple(files) == FILES
    ids = [
        e["id"]
        for content in files.values()
        for r in content["Records"]
        for e in decoded_events(r["kinesis"]["data"])
        if e["id"]
    ]
    assert len(ids) == len(set(ids)), "log event ids must be unique"
    return {name: (json.dumps(content, indent=2) + "\n").encode() for name, content in files.items()}


def decoded_events(data: str) -> list[dict]:
    try:
        return json.loads(zlib.decompress(base64.b64decode(data), 16 + zlib.MAX_WBITS))["logEvents"]
    except (zlib.error, ValueError, KeyError):
        return []


def normalized(content: bytes) -> object:
    """The file with every record's data decoded, so files that differ only in how zlib
    compressed the same payload compare equal."""
    try:
        doc = json.loads(content)
        for record in doc["Records"]:
            raw = base64.b64decode(record["kinesis"]["data"], validate=True)
            try:
                record["kinesis"]["data"] = ["inflated", zlib.decompress(raw, 16 + zlib.MAX_WBITS).decode("latin-1")]
            except zlib.error:
                record["kinesis"]["data"] = ["raw", raw.decode("latin-1")]
        return doc
    except (ValueError, KeyError, TypeError, binascii.Error):
        return content


def write(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in build().items():
        (out_dir / name).write_bytes(content)


def check(events_dir: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp))
        stale = []
        zlib_only = []
        for name in FILES:
            fresh = (Path(tmp) / name).read_bytes()
            committed_path = events_dir / name
            if not committed_path.is_file():
                stale.append(f"{name} (missing)")
                continue
            committed = committed_path.read_bytes()
            if committed == fresh:
                continue
            if normalized(committed) == normalized(fresh):
                zlib_only.append(name)
            else:
                stale.append(name)
    for name in zlib_only:
        print(f"note: {events_dir / name}: same content, different deflate bytes (another zlib build)", file=sys.stderr)
    if stale:
        print(f"{events_dir} is stale; these files differ from what scripts/make-events.py generates:", file=sys.stderr)
        for name in stale:
            print(f"  {events_dir / name}", file=sys.stderr)
        print("run: python3 scripts/make-events.py", file=sys.stderr)
        return 1
    print(f"{events_dir}: up to date ({len(FILES)} files)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="events", help="output directory (default: events)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files in --out are stale")
    args = parser.parse_args()
    out_dir = Path(args.out)
    if args.check:
        return check(out_dir)
    write(out_dir)
    for name in FILES:
        print(f"wrote {os.path.join(args.out, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
