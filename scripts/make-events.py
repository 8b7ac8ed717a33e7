#!/usr/bin/env python3
"""Writes the sample Lambda Kinesis events under events/ (deterministic, byte-identical).

    python3 scripts/make-events.py              # (re)write events/
    python3 scripts/make-events.py --out DIR    # write somewhere else
    python3 scripts/make-events.py --check      # exit 1 if events/ is stale

The files are committed so that `cargo lambda invoke --data-file events/…`, `make demo`, the
integration tests and people reading the repository all see the same bytes. There is one file
per input format the forwarder detects (CloudWatch Logs, KPL aggregates, CloudFront real-time
logs, JSON lines, Apache/NCSA lines, plain text, Lambda platform lines) and one batch with all
of them. Everything that would normally vary (gzip mtime and OS byte, timestamps, ids) is fixed
here, so a diff in events/ always means the content changed. Only the deflate stream itself
depends on the local zlib build; --check therefore compares decoded content when bytes differ,
so a different zlib (zlib-ng, …) on a CI runner does not report a stale file that is not.
KPL aggregates are not encoded here: their bytes are the committed fixtures in
tests/fixtures/kpl/ (made by the official aws-kinesis-agg encoder,
scripts/make-kpl-fixtures.py).

Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
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

FILES = (
    "cloudwatch-data.json",
    "cloudwatch-control.json",
    "poison-record.json",
    "kpl-aggregated.json",
    "cloudfront-realtime.json",
    "json-lines.json",
    "apache-access.json",
    "plain-text.json",
    "lambda-platform.json",
    "mixed-batch.json",
)

# Every record of every file has its own sequence number (file i uses positions 100*i, 100*i+1,
# …): ids of producer text are derived from the sequence number, so of two files sharing one, the
# second's documents would be skipped as already indexed when both are loaded into one index
# (`make demo`), and dead letters would point at the wrong record.
SEQUENCE_BLOCK = 100

ROOT = Path(__file__).resolve().parent.parent
KPL_FIXTURES = ROOT / "tests" / "fixtures" / "kpl"
KPL_MAGIC = b"\xf3\x89\x9a\xc2"


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


def zlib_bytes(data: bytes) -> bytes:
    """A zlib stream (RFC 1950), as Fluentd's `compression zlib` writes (Zlib::Deflate.deflate)."""
    return zlib.compress(data, 6)


def event(file: str, records: list[tuple[str, bytes]]) -> dict:
    """The Lambda event for records given as (partition key seed, record bytes)."""
    first = FILES.index(file) * SEQUENCE_BLOCK
    assert len(records) < SEQUENCE_BLOCK
    out = []
    for i, (key, data) in enumerate(records):
        sequence = str(BASE_SEQUENCE + (first + i) * SEQUENCE_STEP)
        out.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": partition_key(key),
                    "sequenceNumber": sequence,
                    "data": b64(data),
                    # Seconds, with the millisecond fraction Kinesis reports; grows with the
                    # sequence number and comes after every event time in the samples (it is
                    # the event time of text lines that carry none).
                    "approximateArrivalTimestamp": (BASE_MS + 2_000 + (first + i) * 137) / 1000,
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


# --- KPL aggregates ------------------------------------------------------------------------------


def kpl_fixture(name: str) -> bytes:
    """A committed KPL aggregate, byte for byte (tests/fixtures/kpl/NAME.bin)."""
    data = (KPL_FIXTURES / f"{name}.bin").read_bytes()
    assert kpl_user_records(data) is not None, f"{name}.bin is not a KPL aggregate"
    return data


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, at


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message; value is bytes for wire type 2."""
    at = 0
    while at < len(buf):
        key, at = _varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(buf, at)
        elif wire == 2:
            size, at = _varint(buf, at)
            value, at = buf[at : at + size], at + size
        elif wire == 1:
            value, at = buf[at : at + 8], at + 8
        elif wire == 5:
            value, at = buf[at : at + 4], at + 4
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield number, wire, value


def kpl_user_records(data: bytes) -> list[bytes] | None:
    """The user records' data of a KPL aggregate (magic, AggregatedRecord, MD5), or None when
    `data` is not one. Only for checking the samples; the samples embed the fixtures as they are."""
    if len(data) < 20 or not data.startswith(KPL_MAGIC):
        return None
    body, digest = data[4:-16], data[-16:]
    if hashlib.md5(body).digest() != digest:
        return None
    records = []
    for number, wire, value in _fields(body):
        if number == 3 and wire == 2:  # AggregatedRecord.records
            records.append(b"".join(v for n, w, v in _fields(value) if n == 3 and w == 2))
    return records


def units(data: bytes) -> list[bytes]:
    """What the forwarder reads from one record's bytes: its KPL user records (or the record
    itself), each inflated when it is gzip or zlib."""
    out = []
    for unit in kpl_user_records(data) or [data]:
        for wbits in (16 + zlib.MAX_WBITS, zlib.MAX_WBITS):
            try:
                unit = zlib.decompress(unit, wbits)
                break
            except zlib.error:
                pass
        out.append(unit)
    return out


# --- CloudFront real-time logs -------------------------------------------------------------------

# Every real-time log field in AWS's documented order, which is the order CloudFront writes them
# in and what the forwarder reads by default (CLOUDFRONT_FIELDS unset: all fields,
# CloudFrontFormat::aws_field_names() in src/input/cloudfront.rs; tests/events.rs checks that the
# two lists agree).
CLOUDFRONT_FIELDS = (
    "timestamp c-ip s-ip time-to-first-byte sc-status sc-bytes cs-method cs-protocol cs-host "
    "cs-uri-stem cs-bytes x-edge-location x-edge-request-id x-host-header time-taken "
    "cs-protocol-version c-ip-version cs-user-agent cs-referer cs-cookie cs-uri-query "
    "x-edge-response-result-type x-forwarded-for ssl-protocol ssl-cipher x-edge-result-type "
    "fle-encrypted-fields fle-status sc-content-type sc-content-len sc-range-start sc-range-end "
    "c-port x-edge-detailed-result-type c-country cs-accept-encoding cs-accept "
    "cache-behavior-path-pattern cs-headers cs-header-names cs-headers-count "
    "primary-distribution-id primary-distribution-dns-name origin-fbl origin-lbl asn "
    "cmcd-encoded-bitrate cmcd-buffer-length cmcd-buffer-starvation cmcd-content-id "
    "cmcd-object-duration cmcd-deadline cmcd-measured-throughput cmcd-next-object-request "
    "cmcd-next-range-request cmcd-object-type cmcd-playback-rate "
    "cmcd-requested-maximum-throughput cmcd-streaming-format cmcd-session-id cmcd-stream-type "
    "cmcd-startup cmcd-top-bitrate cmcd-version r-host sr-reason x-edge-mqcs "
    "distribution-tenant-id connection-id viewer-request-log-data viewer-response-log-data"
).split()
assert len(CLOUDFRONT_FIELDS) == 71 == len(set(CLOUDFRONT_FIELDS))

CHROME = (
    "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20"
    "(KHTML,%20like%20Gecko)%20Chrome/131.0.0.0%20Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0%20(iPhone;%20CPU%20iPhone%20OS%2018_1%20like%20Mac%20OS%20X)%20"
    "AppleWebKit/605.1.15%20(KHTML,%20like%20Gecko)%20Version/18.1%20Mobile/15E148%20Safari/604.1"
)
# A fake OAuth access token in Google's documented shape: the forwarder must mask it.
ACCESS_TOKEN = "ya29.a0AfB_byC3xq9Lr7Tn2VwZ5kP8sM4dJ6hG1eF0cB"


def cloudfront_line(offset_ms: int, **values: str) -> str:
    """One real-time log line (tab-separated, all fields, `-` for absent); keyword names are the
    field names with `_` for `-`. Values are written as CloudFront writes them (URL-encoded
    headers, seconds with milliseconds)."""
    ms = BASE_MS + offset_ms
    values = {k.replace("_", "-"): v for k, v in values.items()}
    values["timestamp"] = f"{ms // 1000}.{ms % 1000:03d}"
    unknown = set(values) - set(CLOUDFRONT_FIELDS)
    assert not unknown, unknown
    for v in values.values():
        assert "\t" not in v and "\n" not in v and v, v
    return "\t".join(values.get(name, "-") for name in CLOUDFRONT_FIELDS) + "\n"


def edge_request_id(key: str) -> str:
    """A 56-character x-edge-request-id (base64 of 40 bytes, like CloudFront's)."""
    raw = hashlib.sha256(key.encode()).digest() + hashlib.md5(key.encode()).digest()[:8]
    return base64.b64encode(raw).decode()


def cloudfront_common(key: str) -> dict[str, str]:
    """The fields every request of the sample distribution has."""
    return {
        "s_ip": "198.51.100.17",
        "cs_protocol": "https",
        "cs_host": "www.example.com",
        "x_edge_location": "FRA56-P3",
        "x_edge_request_id": edge_request_id(key),
        "x_host_header": "d111111abcdef8.cloudfront.net",
        "ssl_protocol": "TLSv1.3",
        "ssl_cipher": "TLS_AES_128_GCM_SHA256",
        "cs_accept_encoding": "gzip,%20deflate,%20br,%20zstd",
        "connection_id": edge_request_id("connection|" + key)[:44],
    }


def cloudfront_lines(tag: str) -> list[str]:
    """Five requests: an asset hit whose query carries an access token, a 304 revalidation over
    IPv6, a scanner's 404, a video segment with CMCD data, and an API call the cache missed."""
    def line(n: int, offset: int, **values: str) -> str:
        return cloudfront_line(offset, **{**cloudfront_common(f"{tag}|{n}"), **values})

    return [
        line(
            0, 3_125,
            c_ip="203.0.113.42", time_to_first_byte="0.001", sc_status="200", sc_bytes="48731",
            cs_method="GET", cs_uri_stem="/assets/app.3f9c2e.js", cs_bytes="612",
            time_taken="0.002", cs_protocol_version="HTTP/2.0", c_ip_version="IPv4",
            cs_user_agent=CHROME, cs_referer="https://www.example.com/checkout",
            cs_cookie="theme=dark",
            cs_uri_query=f"v=3&access_token={ACCESS_TOKEN}",
            x_edge_response_result_type="Hit", x_edge_result_type="Hit",
            sc_content_type="application/javascript", sc_content_len="48213", c_port="53412",
            x_edge_detailed_result_type="Hit", c_country="DE", cs_accept="*/*",
            cache_behavior_path_pattern="/assets/*", cs_headers_count="12", asn="3320",
        ),
        line(
            1, 3_418,
            c_ip="2001:db8:4006:812::200e", time_to_first_byte="0.001", sc_status="304",
            sc_bytes="341", cs_method="GET", cs_uri_stem="/images/logo.svg", cs_bytes="498",
            time_taken="0.001", cs_protocol_version="HTTP/2.0", c_ip_version="IPv6",
            cs_user_agent=SAFARI, cs_referer="https://www.example.com/",
            x_edge_response_result_type="Hit", x_edge_result_type="Hit", c_port="61022",
            x_edge_detailed_result_type="Hit", c_country="FR",
            cs_accept="image/webp,image/avif,image/*,*/*;q=0.8",
            cache_behavior_path_pattern="/images/*", cs_headers_count="10", asn="3215",
        ),
        line(
            2, 4_051,
            c_ip="192.0.2.77", time_to_first_byte="0.027", sc_status="404", sc_bytes="548",
            cs_method="GET", cs_uri_stem="/wp-login.php", cs_bytes="152", time_taken="0.028",
            cs_protocol_version="HTTP/1.1", c_ip_version="IPv4", cs_user_agent="curl/8.5.0",
            x_edge_response_result_type="Error", x_edge_result_type="Error",
            sc_content_type="text/html", sc_content_len="312", c_port="40112",
            x_edge_detailed_result_type="Error", c_country="US", cs_accept="*/*",
            cache_behavior_path_pattern="*", cs_headers_count="3", origin_fbl="0.025",
            origin_lbl="0.026", asn="14061", r_host="origin.example.com",
        ),
        line(
            3, 4_730,
            c_ip="203.0.113.88", time_to_first_byte="0.043", sc_status="200",
            sc_bytes="1048982", cs_method="GET", cs_uri_stem="/video/hls/1080p/seg_00042.m4s",
            cs_bytes="734", time_taken="0.312", cs_protocol_version="HTTP/2.0",
            c_ip_version="IPv4", cs_user_agent=SAFARI,
            cs_referer="https://www.example.com/watch/launch-2026",
            x_edge_response_result_type="Miss", x_edge_result_type="Miss",
            sc_content_type="video/iso.segment", sc_content_len="1048576", c_port="52001",
            x_edge_detailed_result_type="Miss", c_country="NL", cs_accept="*/*",
            cache_behavior_path_pattern="/video/*", cs_headers_count="11", origin_fbl="0.038",
            origin_lbl="0.301", asn="1136", cmcd_encoded_bitrate="4800",
            cmcd_buffer_length="12300", cmcd_buffer_starvation="false",
            cmcd_content_id="launch-2026", cmcd_object_duration="4004",
            cmcd_measured_throughput="25400", cmcd_next_object_request="seg_00043.m4s",
            cmcd_object_type="v", cmcd_playback_rate="1", cmcd_streaming_format="h",
            cmcd_session_id="6e2fb550-c457-11e9-bb97-0800200c9a66", cmcd_stream_type="v",
            cmcd_top_bitrate="6000", cmcd_version="1", r_host="media-origin.example.com",
        ),
        line(
            4, 5_262,
            c_ip="198.51.100.23", time_to_first_byte="0.087", sc_status="200", sc_bytes="913",
            cs_method="POST", cs_uri_stem="/api/cart/items", cs_bytes="1288",
            time_taken="0.089", cs_protocol_version="HTTP/2.0", c_ip_version="IPv4",
            cs_user_agent=CHROME, cs_referer="https://www.example.com/products/42",
            x_edge_response_result_type="Miss", x_edge_result_type="Miss",
            sc_content_type="application/json", sc_content_len="402", c_port="49833",
            x_edge_detailed_result_type="Miss", c_country="DE",
            cs_accept="application/json", cache_behavior_path_pattern="/api/*",
            cs_headers_count="14", origin_fbl="0.084", origin_lbl="0.086", asn="3320",
            r_host="api-origin.example.com",
        ),
    ]


# --- JSON lines ----------------------------------------------------------------------------------


def compact(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


def fluentd_records(tag: str) -> list[str]:
    """Container logs as Fluentd's out_kinesis writes them: the record as JSON (time injected
    with nanoseconds), one object per line."""
    return [
        compact({
            "log": "GET /healthz 200 0.4ms",
            "stream": "stdout",
            "time": "2026-11-22T10:00:06.250413777Z",
            "level": "info",
            "kubernetes": {
                "namespace_name": "shop",
                "pod_name": f"checkout-7d9f8b6c5-{tag}",
                "container_name": "checkout",
            },
        }),
        compact({
            "log": "login failed for user bob",
            "stream": "stderr",
            "time": "2026-11-22T10:00:06.731009152Z",
            "level": "warn",
            "user": "bob",
            "password": "hunter2-Winter!",
            "kubernetes": {
                "namespace_name": "shop",
                "pod_name": f"auth-5c4b7a9d8-{tag}",
                "container_name": "auth",
            },
        }),
    ]


def fastly_json(tag: str, offset_s: int, path: str, status: int, cache: str) -> str:
    """Fastly real-time log streaming with a JSON log format (Fastly's documented example:
    `%{strftime(\\{"%Y-%m-%dT%H:%M:%S%z"\\}, time.start)}V` for `timestamp`)."""
    return compact({
        "timestamp": f"2026-11-22T10:00:{offset_s:02d}+0000",
        "client_ip": "203.0.113.61",
        "geo_country": "germany",
        "url": path,
        "request_method": "GET",
        "request_protocol": "HTTP/2",
        "request_referer": "https://www.example.com/",
        "request_user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "response_status": status,
        "response_reason": {200: "OK", 503: "Service Unavailable"}[status],
        "response_body_size": 5120 if status == 200 else 0,
        "fastly_server": f"cache-fra-etou8220{tag}",
        "fastly_is_edge": True,
        "cache_status": cache,
    })


# --- Apache / NCSA -------------------------------------------------------------------------------

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def fastly_syslog(second: int, host: str, line: str) -> str:
    """Fastly's syslog framing: `<134>` (local0.info), an RFC 3339 time, the cache node, the
    endpoint name with Fastly's process id."""
    return f"<134>2026-11-22T10:00:{second:02d}Z {host} shop-logs[367]: {line}"


def apache_lines() -> tuple[str, str]:
    """(Fastly records behind a syslog header, plain Apache combined lines)."""
    fastly = "".join(
        fastly_syslog(8, "cache-fra-etou8220045", line) + "\n"
        for line in (
            '198.51.100.23 - - [22/Nov/2026:10:00:08 +0000] "GET /products/42?ref=newsletter HTTP/1.1" '
            f'200 18342 "https://www.example.com/" "{FIREFOX}"',
            '203.0.113.42 - - [22/Nov/2026:10:00:08 +0000] '
            f'"GET /oauth/callback?state=af0ifjsldkj&access_token={ACCESS_TOKEN} HTTP/1.1" '
            f'302 0 "https://accounts.example.com/" "{FIREFOX}"',
        )
    )
    apache = (
        '192.0.2.10 - alice [22/Nov/2026:11:00:09 +0100] "POST /account/login HTTP/1.1" 302 - '
        '"https://www.example.com/login" "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) '
        'AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"\n'
        '2001:db8::1f - - [22/Nov/2026:10:00:09 +0000] "GET /robots.txt HTTP/1.1" 404 196 "-" '
        '"Googlebot/2.1 (+http://www.google.com/bot.html)"\n'
    )
    return fastly, apache


# --- Plain text ----------------------------------------------------------------------------------


def plain_text() -> tuple[str, str]:
    """A Java service's log (blank lines are skipped, one line carries a bearer token) and a
    single line without a trailing newline."""
    many = (
        "2026-11-22 10:00:10,412 INFO  [main] c.e.shop.Application - Started Application in 4.218 seconds\n"
        "\n"
        "2026-11-22 10:00:10,980 WARN  [http-nio-8080-exec-3] c.e.shop.PaymentClient - "
        "slow response from payments (1840 ms)\n"
        "   \n"
        "2026-11-22 10:00:11,004 DEBUG [http-nio-8080-exec-3] c.e.shop.PaymentClient - request headers: "
        "Authorization: Bearer eyJ0b2tlbiI6InNhbXBsZSJ9Lm5vdC1hLXJlYWwtdG9rZW4\n"
    )
    single = "cron[2231]: nightly export finished: 18204 rows in 12.4 s"
    return many, single


# --- Lambda platform lines -----------------------------------------------------------------------

RESIZER_GROUP = "/aws/lambda/image-resizer"
RESIZER_STREAM_A = "2026/11/22/[$LATEST]0c7e4d2a9b1f4e8d8a3b5c6d7e8f9012"
RESIZER_STREAM_B = "2026/11/22/[$LATEST]9a8b7c6d5e4f40318293a4b5c6d7e8f9"
ORDERS_GROUP = "/aws/lambda/orders-json"
ORDERS_STREAM = "2026/11/22/[$LATEST]3d2c1b0a9f8e47d6c5b4a3928170f6e5"
RESIZER_REQUEST = "b3d5f7a9-1c2e-4f60-8a9b-0c1d2e3f4a5b"
ORDERS_REQUEST = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"
RUNTIME_ARN = "arn:aws:lambda:us-east-1::runtime:0cdcfbdefbc5e7d3343f73c2e2dd8cba17d6ef4be1c7a1dc9e7fcd7bd3b1a8b2"


def lambda_cold_start() -> list[tuple[int, str]]:
    """A cold start in the text log format: INIT_START, START, the function's line, END and a
    REPORT with Init Duration, exactly as the runtime writes them."""
    return [
        (12_000, f"INIT_START Runtime Version: nodejs:20.v13\tRuntime Version ARN: {RUNTIME_ARN}\n"),
        (12_402, f"START RequestId: {RESIZER_REQUEST} Version: $LATEST\n"),
        (12_530, f"2026-11-22T10:00:12.530Z\t{RESIZER_REQUEST}\tINFO\tresized uploads/cat.jpg to 3 sizes\n"),
        (12_911, f"END RequestId: {RESIZER_REQUEST}\n"),
        (
            12_911,
            f"REPORT RequestId: {RESIZER_REQUEST}\tDuration: 508.72 ms\tBilled Duration: 509 ms\t"
            "Memory Size: 1024 MB\tMax Memory Used: 187 MB\tInit Duration: 401.33 ms\t\n",
        ),
    ]


def lambda_init_timeout() -> list[tuple[int, str]]:
    """An execution environment whose init phase timed out."""
    return [
        (13_000, f"INIT_START Runtime Version: nodejs:20.v13\tRuntime Version ARN: {RUNTIME_ARN}\n"),
        (23_006, "INIT_REPORT Init Duration: 10006.25 ms\tPhase: init\tStatus: timeout\n"),
    ]


def lambda_json_format() -> list[tuple[int, str]]:
    """The same lifecycle with LogFormat JSON: platform.* records and a JSON application log."""
    def at(offset: int) -> str:
        ms = BASE_MS + offset
        return time_text(ms)

    return [
        (14_000, compact({"time": at(14_000), "type": "platform.initStart", "record": {
            "initializationType": "on-demand", "phase": "init", "runtimeVersion": "python:3.12.v38",
            "runtimeVersionArn": RUNTIME_ARN, "functionName": "orders-json", "functionVersion": "$LATEST"}})),
        (14_290, compact({"time": at(14_290), "type": "platform.start", "record": {
            "requestId": ORDERS_REQUEST, "version": "$LATEST"}})),
        (14_355, compact({"timestamp": at(14_355), "level": "INFO", "message": "order o-981 accepted",
                          "logger": "root", "requestId": ORDERS_REQUEST})),
        (14_536, compact({"time": at(14_536), "type": "platform.report", "record": {
            "requestId": ORDERS_REQUEST,
            "metrics": {"durationMs": 245.32, "billedDurationMs": 246, "memorySizeMB": 256,
                        "maxMemoryUsedMB": 88, "initDurationMs": 286.91},
            "status": "success"}})),
    ]


def time_text(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, for times inside the samples."""
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# --- Files ---------------------------------------------------------------------------------------


def build() -> dict[str, bytes]:
    def record(file: str, group: str, stream: str, messages: list[tuple[int, str]]) -> tuple[str, bytes]:
        return group, gzip_bytes(cloudwatch_payload(file, group, stream, messages))

    def text(key: str, body: str) -> tuple[str, bytes]:
        return key, body.encode()

    files: dict[str, dict] = {}
    files["cloudwatch-data.json"] = event(
        "cloudwatch-data.json",
        [
            record("cloudwatch-data", LAMBDA_GROUP, LAMBDA_STREAM, lambda_invocation()),
            record("cloudwatch-data", APIGW_GROUP, APIGW_STREAM, apigw_messages()),
        ],
    )
    files["cloudwatch-control.json"] = event(
        "cloudwatch-control.json", [("control", gzip_bytes(control_payload()))]
    )

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
    files["poison-record.json"] = event(
        "poison-record.json",
        [
            record("poison-record", LAMBDA_GROUP, LAMBDA_STREAM, lambda_invocation()[:2]),
            ("bad-gzip", bad_gzip),
            ("bad-json", bad_json),
            record("poison-record", APIGW_GROUP, APIGW_STREAM, apigw_messages()[:1]),
        ],
    )

    # KPL: text and JSON user records; gzip'ed CloudWatch payloads; user records with explicit
    # hash keys. Each user record is one unit with its own sub-sequence number.
    files["kpl-aggregated.json"] = event(
        "kpl-aggregated.json",
        [
            ("web-1", kpl_fixture("plain-text-3")),
            (LAMBDA_GROUP, kpl_fixture("cloudwatch-gzip")),
            ("orders", kpl_fixture("explicit-hash-key")),
        ],
    )

    # CloudFront puts one line per record; a producer relaying them may batch several.
    cf = cloudfront_lines("cloudfront-realtime")
    files["cloudfront-realtime.json"] = event(
        "cloudfront-realtime.json",
        [
            text("203.0.113.42", cf[0] + cf[1]),
            text("192.0.2.77", cf[2]),
            text("203.0.113.88", cf[3]),
            text("198.51.100.23", cf[4]),
        ],
    )

    fluentd = fluentd_records("x2k9p")
    files["json-lines.json"] = event(
        "json-lines.json",
        [
            # Fluentd out_kinesis with `compression zlib`: newline-delimited objects, deflated.
            ("fluentd-zlib", zlib_bytes("".join(line + "\n" for line in fluentd).encode())),
            # Fluentd out_kinesis without compression: one object and its newline.
            text("fluentd-plain", compact({
                "host": "ip-10-0-1-23", "ident": "sshd", "pid": "4242",
                "message": "Accepted publickey for ec2-user from 192.0.2.44 port 50522 ssh2",
                "time": "2026-11-22T10:00:07Z"}) + "\n"),
            # Fastly with a JSON log format: one line per record, no newline.
            text("fastly-1", fastly_json("045", 7, "/products/42", 200, "HIT")),
            text("fastly-2", fastly_json("045", 8, "/api/stock?sku=A-1001", 503, "MISS")),
            # A generic producer with epoch milliseconds in `ts`.
            text("generic", compact({"ts": BASE_MS + 8_321, "level": "error", "msg": "payment declined",
                                     "order_id": "o-124", "reason": "insufficient_funds"})),
        ],
    )

    fastly, apache = apache_lines()
    files["apache-access.json"] = event(
        "apache-access.json", [text("cache-fra-etou8220045", fastly), text("web-1", apache)]
    )

    many, single = plain_text()
    files["plain-text.json"] = event("plain-text.json", [text("app-1", many), text("cron", single)])

    files["lambda-platform.json"] = event(
        "lambda-platform.json",
        [
            record("lambda-platform", RESIZER_GROUP, RESIZER_STREAM_A, lambda_cold_start()),
            record("lambda-platform", RESIZER_GROUP, RESIZER_STREAM_B, lambda_init_timeout()),
            record("lambda-platform", ORDERS_GROUP, ORDERS_STREAM, lambda_json_format()),
        ],
    )

    # Every format at once, as on a stream that many producers share. Ids differ from the files
    # above (other sequence numbers, other CloudWatch event ids), so loading everything into one
    # index keeps every document.
    mixed_cf = cloudfront_lines("mixed-batch")
    mixed_fastly = fastly_syslog(
        15,
        "cache-fra-etou8220046",
        '203.0.113.9 - - [22/Nov/2026:10:00:15 +0000] '
        f'"GET /search?q=shoes&access_token={ACCESS_TOKEN} HTTP/1.1" 200 7731 "-" "{FIREFOX}"',
    )
    files["mixed-batch.json"] = event(
        "mixed-batch.json",
        [
            record("mixed-batch", LAMBDA_GROUP, LAMBDA_STREAM, lambda_invocation()),
            ("web-1", kpl_fixture("plain-text-3")),
            text("203.0.113.42", mixed_cf[0]),
            ("fluentd-zlib", zlib_bytes("".join(line + "\n" for line in fluentd_records("m4q7z")).encode())),
            text("fastly-3", fastly_json("046", 15, "/cart", 200, "MISS")),
            text("cache-fra-etou8220046", mixed_fastly + "\n"),
            text("app-1", plain_text()[0]),
            record("mixed-batch", ORDERS_GROUP, ORDERS_STREAM, lambda_json_format()),
        ],
    )

    assert tuple(files) == FILES
    sequences = [r["kinesis"]["sequenceNumber"] for content in files.values() for r in content["Records"]]
    assert len(sequences) == len(set(sequences)), "sequence numbers must be unique across files"
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
    """The CloudWatch Logs events in a record (in any of its KPL user records)."""
    out = []
    for unit in units(base64.b64decode(data)):
        try:
            out.extend(json.loads(unit)["logEvents"])
        except (ValueError, KeyError, TypeError):
            pass
    return out


def normalized(content: bytes) -> object:
    """The file with every record's data decoded, so files that differ only in how zlib
    compressed the same payload compare equal."""
    try:
        doc = json.loads(content)
        for record in doc["Records"]:
            raw = base64.b64decode(record["kinesis"]["data"], validate=True)
            decoded = [u.decode("latin-1") for u in units(raw)]
            record["kinesis"]["data"] = ["decoded" if decoded != [raw.decode("latin-1")] else "raw", decoded]
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
