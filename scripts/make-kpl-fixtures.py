#!/usr/bin/env python3
"""Writes KPL-aggregated Kinesis record fixtures under tests/fixtures/kpl/ (deterministic).

    python3 scripts/make-kpl-fixtures.py              # (re)write tests/fixtures/kpl/
    python3 scripts/make-kpl-fixtures.py --out DIR    # write somewhere else
    python3 scripts/make-kpl-fixtures.py --check      # exit 1 if the fixtures are stale

Every `NAME.bin` is made by the official aggregation library, `aws-kinesis-agg` (the Python
port of the KPL's aggregator; RecordAggregator -> AggRecord.get_contents()), and holds the
aggregated record exactly as it appears in a Kinesis record's `data` after base64 decoding:
magic F3 89 9A C2, the protobuf AggregatedRecord, the MD5 of the protobuf. `NAME.json` lists
what a de-aggregator must return, in order (the index is the sub-sequence number):

    {"description": ...,
     "aggregate": {"partition_key": ..., "explicit_hash_key": ...},   # what the producer
                                                                      # would PutRecord with
     "records": [{"partition_key": ..., "explicit_hash_key": null | ...,
                  "data_base64": ..., "data_utf8": ... (only when data is UTF-8 text)}]}

The manifest is written from this script's own inputs, and each fixture is also de-aggregated
with the library's own deaggregator, which must agree, so a fixture can't silently disagree
with its manifest.

Run it with the Python that has aws-kinesis-agg installed (scripts/install-tools.sh puts one
in ~/.cache/log-forwarder-tools/venv). Only the gzip'ed fixtures depend on the local zlib
build; --check therefore compares decoded content when bytes differ, like make-events.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import struct
import sys
import tempfile
import zlib
from pathlib import Path

try:
    # aggregator first: it puts the package directory on sys.path, which messages_pb2 needs
    # for its bare `import config_pb2` (importing messages_pb2 first fails).
    from aws_kinesis_agg.aggregator import RecordAggregator
    from aws_kinesis_agg.deaggregator import deaggregate_records
    from aws_kinesis_agg import MAGIC, DIGEST_SIZE, messages_pb2
except ImportError:  # pragma: no cover - environment problem, not a fixture problem
    print(
        "aws-kinesis-agg is not installed for this Python; run it with "
        "~/.cache/log-forwarder-tools/venv/bin/python (see scripts/install-tools.sh)",
        file=sys.stderr,
    )
    raise SystemExit(2)

ACCOUNT = "123456789012"
# 2026-11-22T10:00:00Z, as in make-events.py.
BASE_MS = 1_795_341_600_000

# An explicit hash key is the decimal form of a 128-bit hash key; these are the start of the
# upper half and the top of the range.
EHK_MID = str(2**127)
EHK_MAX = str(2**128 - 1)


def gzip_bytes(data: bytes) -> bytes:
    """A single gzip member with a fixed header (no mtime, OS byte 255), as in make-events.py."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def event_id(key: str) -> str:
    """56 decimal digits derived from key (CloudWatch Logs event ids look like this)."""
    value = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    return str(value % (9 * 10**55) + 10**55)


def cloudwatch_payload(log_group: str, log_stream: str, messages: list[tuple[int, str]]) -> bytes:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["log-forwarder"],
        "logEvents": [
            {
                "id": event_id(f"kpl|{log_group}|{log_stream}|{offset}|{i}"),
                "timestamp": BASE_MS + offset,
                "message": text,
            }
            for i, (offset, text) in enumerate(messages)
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


# A user record: (partition key, data, explicit hash key or None).
UserRecord = tuple[str, bytes, "str | None"]


def plain_text_3() -> list[UserRecord]:
    return [
        ("web-1", b"GET /index.html 200 1043 0.012\n", None),
        ("web-2", b'{"level":"info","msg":"user logged in","user":"u-42"}', None),
        # Same partition key as the first record: one partition key table entry, two users.
        ("web-1", b"2026-11-22T10:00:01Z WARN disk usage at 91%", None),
    ]


def explicit_hash_key() -> list[UserRecord]:
    return [
        ("orders", b"order o-1 placed", EHK_MID),
        # No explicit hash key on this one: the de-aggregator must report None, not the first's.
        ("orders", b"order o-2 placed", None),
        ("payments", b"payment p-1 captured", EHK_MAX),
        ("orders", b"order o-3 placed", EHK_MID),
    ]


def cloudwatch_gzip() -> list[UserRecord]:
    lambda_group = "/aws/lambda/checkout-api"
    lambda_stream = "2026/11/22/[$LATEST]5f1c0a7e9b2d4c3a8e6f1b0d9c2a7e4f"
    request_id = "8f5c2a1e-3b4d-4e6f-9a0b-7c1d2e3f4a5b"
    apigw_group = "/aws/apigateway/access-logs"
    apigw_stream = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    lambda_lines = [
        (0, f"START RequestId: {request_id} Version: $LATEST\n"),
        (4, '{"level":"info","msg":"order placed","order_id":"o-123","latency_ms":41}'),
        (12, f"END RequestId: {request_id}\n"),
        (
            12,
            f"REPORT RequestId: {request_id}\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 70 MB\t\n",
        ),
    ]
    apigw_lines = [
        (
            1_000,
            '{"requestId":"c7d1e2f3-a4b5-4c6d-8e9f-0a1b2c3d4e5f","ip":"203.0.113.42",'
            '"httpMethod":"POST","resourcePath":"/orders","status":"201"}',
        ),
    ]
    return [
        (lambda_group, gzip_bytes(cloudwatch_payload(lambda_group, lambda_stream, lambda_lines)), None),
        (apigw_group, gzip_bytes(cloudwatch_payload(apigw_group, apigw_stream, apigw_lines)), None),
    ]


def many_keys_500() -> list[UserRecord]:
    """500 users over 300 distinct partition keys: indices past 127 (two-byte varints), keys of
    many lengths (up to Kinesis's 256-character limit, so two-byte length varints too), and
    non-ASCII keys (the table holds UTF-8)."""
    out = []
    for i in range(500):
        k = i % 300
        if k % 50 == 7:
            key = f"long-{k:03d}-" + "x" * (256 - 9)
        elif k % 10 == 3:
            key = f"ключ-{k}-日本-🚀"
        else:
            key = f"host-{k:03d}.example.internal"
        data = f"event {i} from {key[:24]}: seq={i * 7919 % 10007}".encode()
        out.append((key, data, None))
    return out


def single_record() -> list[UserRecord]:
    return [("only-key", b"a single user record, aggregated anyway", None)]


def binary_data() -> list[UserRecord]:
    # Every byte value, then bytes that are invalid UTF-8 and the magic itself: data is
    # protobuf `bytes`, it must come out untouched.
    return [("bin", bytes(range(256)) + b"\xff\xfe\xc3\x28" + MAGIC, None)]


def edge_cases() -> list[UserRecord]:
    return [
        ("edge", b"", None),  # empty data: proto2 still writes the required field
        ("€", b"\n", None),  # multi-byte UTF-8 key
        ("edge", b"x" * 300, None),  # data length needs a two-byte varint
    ]


FIXTURES = {
    "plain-text-3": ("3 plain-text user records, two sharing a partition key", plain_text_3),
    "explicit-hash-key": ("user records with and without explicit hash keys", explicit_hash_key),
    "cloudwatch-gzip": ("user records whose data is gzip'ed CloudWatch Logs subscription JSON", cloudwatch_gzip),
    "many-keys-500": ("500 user records, 300 distinct partition keys (long and non-ASCII)", many_keys_500),
    "single-record": ("a single user record", single_record),
    "binary-data": ("one user record with binary (non-UTF-8) data", binary_data),
    "edge-cases": ("empty data, a multi-byte UTF-8 key, a 300-byte data field", edge_cases),
}


def aggregate(records: list[UserRecord]) -> tuple[str, "str | None", bytes]:
    aggregator = RecordAggregator()
    for pk, data, ehk in records:
        full = aggregator.add_user_record(pk, data, ehk)
        # Every fixture must be one aggregated record; a returned AggRecord means it rolled over.
        assert full is None, "fixture does not fit in one aggregated record"
    agg = aggregator.clear_and_get()
    assert agg is not None
    pk, ehk, blob = agg.get_contents()
    return pk, ehk, blob


def manifest_record(pk: str, data: bytes, ehk: "str | None") -> dict:
    entry = {"partition_key": pk, "explicit_hash_key": ehk, "data_base64": base64.b64encode(data).decode("ascii")}
    if not data.startswith(b"\x1f\x8b"):
        try:
            entry["data_utf8"] = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return entry


def verify_with_library(name: str, blob: bytes, records: list[UserRecord]) -> None:
    """The library's own deaggregator must return our inputs.

    One known library bug is tolerated: for a user record without an explicit hash key, its
    deaggregator reports `explicit_hash_key_table[0]` whenever the table is non-empty (it reads
    the unset proto2 field's default, 0, without checking HasField). Our de-aggregator must
    report None there, as the manifest says."""
    assert blob[:4] == MAGIC, name
    assert hashlib.md5(blob[4:-DIGEST_SIZE]).digest() == blob[-DIGEST_SIZE:], name
    lambda_record = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "outer",
            "sequenceNumber": "49657320810453245962386419204773946581276314842915340290",
            "approximateArrivalTimestamp": BASE_MS / 1000,
            "data": base64.b64encode(blob).decode("ascii"),
        }
    }
    users = deaggregate_records([lambda_record])
    assert len(users) == len(records), f"{name}: library returned {len(users)} records, expected {len(records)}"
    agg = messages_pb2.AggregatedRecord()
    agg.ParseFromString(blob[4:-DIGEST_SIZE])
    for i, (user, (pk, data, ehk)) in enumerate(zip(users, records)):
        k = user["kinesis"]
        assert k["subSequenceNumber"] == i, name
        got_ehk = k["explicitHashKey"]
        if ehk is None:
            assert not agg.records[i].HasField("explicit_hash_key_index"), name
            assert got_ehk == (agg.explicit_hash_key_table[0] if agg.explicit_hash_key_table else None), name
            got_ehk = None
        got = (k["partitionKey"], base64.b64decode(k["data"]), got_ehk)
        assert got == (pk, data, ehk), f"{name}: {got!r} != {(pk, data, ehk)!r}"


def build() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name, (description, make) in FIXTURES.items():
        records = make()
        pk, ehk, blob = aggregate(records)
        verify_with_library(name, blob, records)
        manifest = {
            "description": description,
            "aggregate": {"partition_key": pk, "explicit_hash_key": ehk},
            "records": [manifest_record(*r) for r in records],
        }
        files[f"{name}.bin"] = blob
        files[f"{name}.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return files


def normalized(name: str, content: bytes) -> object:
    """The fixture with gzip'ed data inflated, so that files that differ only in how zlib
    compressed the same payload compare equal."""

    def inflate(data: bytes) -> object:
        try:
            return ["inflated", zlib.decompress(data, 16 + zlib.MAX_WBITS)]
        except zlib.error:
            return ["raw", data]

    try:
        if name.endswith(".bin"):
            if content[:4] != MAGIC or hashlib.md5(content[4:-DIGEST_SIZE]).digest() != content[-DIGEST_SIZE:]:
                return content
            agg = messages_pb2.AggregatedRecord()
            agg.ParseFromString(content[4:-DIGEST_SIZE])
            return [
                (
                    agg.partition_key_table[r.partition_key_index],
                    agg.explicit_hash_key_table[r.explicit_hash_key_index] if r.HasField("explicit_hash_key_index") else None,
                    inflate(r.data),
                )
                for r in agg.records
            ]
        doc = json.loads(content)
        for r in doc["records"]:
            r["data_base64"] = inflate(base64.b64decode(r["data_base64"], validate=True))
        return doc
    except Exception:  # anything unreadable compares by bytes
        return content


def write(out_dir: Path) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = build()
    for name, content in files.items():
        (out_dir / name).write_bytes(content)
    return list(files)


def check(out_dir: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        names = write(Path(tmp))
        stale, zlib_only = [], []
        for name in names:
            fresh = (Path(tmp) / name).read_bytes()
            path = out_dir / name
            if not path.is_file():
                stale.append(f"{name} (missing)")
                continue
            committed = path.read_bytes()
            if committed == fresh:
                continue
            if normalized(name, committed) == normalized(name, fresh):
                zlib_only.append(name)
            else:
                stale.append(name)
        expected = set(names)
        extra = sorted(p.name for p in out_dir.glob("*") if p.suffix in (".bin", ".json") and p.name not in expected) if out_dir.is_dir() else []
    for name in zlib_only:
        print(f"note: {out_dir / name}: same content, different deflate bytes (another zlib build)", file=sys.stderr)
    for name in extra:
        print(f"note: {out_dir / name}: not generated by this script", file=sys.stderr)
    if stale:
        print(f"{out_dir} is stale; these files differ from what scripts/make-kpl-fixtures.py generates:", file=sys.stderr)
        for name in stale:
            print(f"  {out_dir / name}", file=sys.stderr)
        print("run: scripts/make-kpl-fixtures.py with the aws-kinesis-agg Python", file=sys.stderr)
        return 1
    print(f"{out_dir}: up to date ({len(names)} files)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/kpl", help="output directory (default: tests/fixtures/kpl)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files in --out are stale")
    args = parser.parse_args()
    out_dir = Path(args.out)
    if args.check:
        return check(out_dir)
    for name in write(out_dir):
        print(f"wrote {os.path.join(args.out, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
