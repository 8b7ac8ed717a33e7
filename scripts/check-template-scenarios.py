#!/usr/bin/env python3
"""Asserts what template.yaml deploys for a table of parameter sets, in moto's CloudFormation.

    check-template-scenarios.py [--expanded EXPANDED.json | -t TEMPLATE] [-k TEXT]

For every scenario of SCENARIOS below:

* the parameter values are checked the way CloudFormation checks them before creating anything:
  AllowedValues, AllowedPattern (with Python's re, close to CloudFormation's Java regexes for the
  patterns used), Min/MaxLength, Min/MaxValue, then the template's Rules (moto evaluates neither).
  Scenarios meant to be refused must be refused by exactly the expected
  parameters or rules; the others must pass;
* the others are deployed into an in-process moto (no server, no network, a fresh account per
  scenario), and the function's environment, every statement of its role, the event source
  mapping, the subscription role and filters, the dead-letter queue's size and the log group's
  retention are compared with the expectations written out in the table (README "Permissions",
  "Destinations", "Configuration").

Prints one line per scenario (ok, or what differed) and exits 1 on any difference.

Runs in the tools venv ($LF_TOOLS/venv: moto, boto3; scripts/requirements-tools.txt). The
template is expanded by the SAM translator first: `scripts/lint-template.sh` passes the JSON it
already expanded (--expanded); run alone, this script expands TEMPLATE itself with
scripts/sam-translate.py in the SAM venv ($LF_TOOLS/venv-sam).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
STACK = "lf"

# Keep the check away from real AWS settings and endpoints (AWS_ENDPOINT_URL would send boto3
# past moto's in-process mock).
for _name in list(os.environ):
    if _name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE")):
        del os.environ[_name]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION=REGION,
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    MOTO_ACCOUNT_ID=ACCOUNT,
)
warnings.filterwarnings("ignore")
# moto logs a warning for each resource type it cannot create (alarms, subscription filters).
logging.getLogger("moto").setLevel(logging.ERROR)

try:
    import boto3
    from moto import mock_aws
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json
except ImportError as e:  # pragma: no cover - a setup problem, said plainly
    sys.exit(
        f"check-template-scenarios: {e}; run it with the tools venv's python "
        "($LF_TOOLS/venv/bin/python, installed by `make tools`)"
    )

# --- expectations --------------------------------------------------------------------------------
SSM = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
ES_ENDPOINT = "https://es.example.com"
DOMAIN_ENDPOINT = "https://search-logs-abc123.eu-west-1.es.amazonaws.com"
AOSS_ENDPOINT = "https://abc123xyz.us-east-1.aoss.amazonaws.com"
DOMAIN_ARN = f"arn:aws:es:eu-west-1:{ACCOUNT}:domain/logs"
COLLECTION_ARN = f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/abc123xyz"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXISTING_STREAM_NAME = "existing-logs"
EXISTING_STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{EXISTING_STREAM_NAME}"
DLQ_URL = object()  # stands for the stack's dead-letter queue URL in expected environments

# The environment of an Elasticsearch deployment, with the README's defaults ("Configuration").
# A scenario lists what it adds, changes, or (None) must not be set.
BASE_ENV = {
    "DESTINATION": "elasticsearch",
    "ES_INDEX": "cloudwatch-%Y.%m.%d",
    "MAX_REQUEST_BYTES": "5242880",
    "MAX_CONCURRENCY": "4",
    "ES_COMPRESSION": "none",
    "ES_DOCUMENT_IDS": "true",
    "REQUEST_TIMEOUT_MS": "30000",
    "DLQ_QUEUE_URL": DLQ_URL,
    "DLQ_MAX_MESSAGE_BYTES": "262144",
    "JSON_FIELD": "json",
    "MAX_RECORD_BYTES": "16777216",
    "RETRY_BASE_MS": "200",
    "RETRY_MAX_BACKOFF_MS": "10000",
    "RETRY_MAX_ATTEMPTS": "8",
    "DEADLINE_MARGIN_MS": "3000",
    "LOG_LEVEL": "info",
    "MASK_PII": "false",
    "MASK_MODE": "marker",
}
# README: "variables that do not apply to the chosen DESTINATION/ES_AUTH are not set on the
# function" - with logzio, no ES_* at all.
LOGZIO_ENV = {
    "DESTINATION": "logzio",
    "ES_INDEX": None,
    "ES_COMPRESSION": None,
    "ES_DOCUMENT_IDS": None,
    "LOGZIO_LISTENER_URL": "https://listener.logz.io:8071",
    "LOGZIO_TOKEN_PARAMETER": "/logz-io/data-shipping-token",
    "LOGZIO_TYPE": "cloudwatch",
}
STREAM_READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
GET_PARAMETER = "ssm:GetParameter"

# Template bugs found by this check and reported, not yet fixed: the differences each one causes
# today. A scenario naming a bug (known_bug=) reports those differences without failing; any other
# difference fails it, and so does the bug's disappearance (then delete its entry here and the
# scenarios' known_bug=, so that it cannot come back unnoticed).
KNOWN_BUGS: dict[str, tuple] = {}


@dataclass
class Scenario:
    name: str
    params: dict[str, str]
    # Deployed scenarios: variables on top of BASE_ENV (None = must be absent), the role's
    # statements besides ReadStream/SendDeadLetters/SendOnFailureRecords (Sid -> (action(s),
    # resource)), the stream (None = the stack's own), the log group's retention (None = never
    # expires), the log groups subscribed to the stream.
    env: dict[str, str | None] = field(default_factory=dict)
    grants: dict[str, tuple] = field(default_factory=dict)
    stream: str | None = None
    retention: int | None = 30
    subscribed: tuple[str, ...] = ()
    # Refused scenarios: "Rule:NAME" / "Parameter:NAME", exactly the ones expected to refuse.
    refused: tuple[str, ...] = ()
    known_bug: str | None = None  # a key of KNOWN_BUGS


S = Scenario
SCENARIOS = [
    # --- Elasticsearch / OpenSearch ----------------------------------------------------------
    S("elasticsearch, EsAuth=none (defaults)",
      {"EsEndpoint": ES_ENDPOINT},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "none"}),
    S("elasticsearch, basic, /path password, TlsCaBundle",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "basic", "EsUsername": "log-forwarder",
       "EsPasswordParameter": "/log-forwarder/es-password", "TlsCaBundle": "/var/task/ca.pem"},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "basic", "ES_USERNAME": "log-forwarder",
           "ES_PASSWORD_PARAMETER": "/log-forwarder/es-password", "TLS_CA_BUNDLE": "/var/task/ca.pem"},
      grants={"ReadEsPassword": (GET_PARAMETER, f"{SSM}/log-forwarder/es-password")}),
    S("elasticsearch, basic, plain-name password, stray api-key/sigv4 settings",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "basic", "EsUsername": "elastic",
       "EsPasswordParameter": "es-password", "EsApiKeyParameter": "/stray/api-key",
       "EsSigV4Service": "es", "EsSigV4Region": "eu-west-1", "OpenSearchResourceArn": DOMAIN_ARN},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "basic", "ES_USERNAME": "elastic",
           "ES_PASSWORD_PARAMETER": "es-password"},
      grants={"ReadEsPassword": (GET_PARAMETER, f"{SSM}/es-password")}),
    S("elasticsearch, api_key, /path key, stray user/password",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "api_key", "EsApiKeyParameter": "/team/log-forwarder/es-api-key",
       "EsUsername": "stray", "EsPasswordParameter": "/stray/password"},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "api_key",
           "ES_API_KEY_PARAMETER": "/team/log-forwarder/es-api-key"},
      grants={"ReadEsApiKey": (GET_PARAMETER, f"{SSM}/team/log-forwarder/es-api-key")}),
    S("elasticsearch, api_key, plain-name key",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "api_key", "EsApiKeyParameter": "es-api-key"},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "api_key", "ES_API_KEY_PARAMETER": "es-api-key"},
      grants={"ReadEsApiKey": (GET_PARAMETER, f"{SSM}/es-api-key")}),
    # --- SigV4 ------------------------------------------------------------------------------------
    S("sigv4, domain endpoint, no ARN: es:ESHttpPost on domain/* of the stack's region",
      {"EsEndpoint": DOMAIN_ENDPOINT, "EsAuth": "sigv4", "EsUsername": "stray"},
      env={"ES_ENDPOINT": DOMAIN_ENDPOINT, "ES_AUTH": "sigv4"},
      grants={"WriteToOpenSearchDomain": ("es:ESHttpPost", f"arn:aws:es:{REGION}:{ACCOUNT}:domain/*")}),
    S("sigv4, domain endpoint, EsSigV4Region, no ARN: domain/* of that region",
      {"EsEndpoint": DOMAIN_ENDPOINT, "EsAuth": "sigv4", "EsSigV4Region": "eu-west-1"},
      env={"ES_ENDPOINT": DOMAIN_ENDPOINT, "ES_AUTH": "sigv4", "ES_SIGV4_REGION": "eu-west-1"},
      grants={"WriteToOpenSearchDomain": ("es:ESHttpPost", f"arn:aws:es:eu-west-1:{ACCOUNT}:domain/*")}),
    S("sigv4, domain endpoint, OpenSearchResourceArn: DOMAIN_ARN/*",
      {"EsEndpoint": DOMAIN_ENDPOINT, "EsAuth": "sigv4", "OpenSearchResourceArn": DOMAIN_ARN},
      env={"ES_ENDPOINT": DOMAIN_ENDPOINT, "ES_AUTH": "sigv4"},
      grants={"WriteToOpenSearchDomain": ("es:ESHttpPost", f"{DOMAIN_ARN}/*")}),
    S("sigv4, *.aoss.amazonaws.com endpoint, no ARN: aoss:APIAccessAll on collection/*",
      {"EsEndpoint": AOSS_ENDPOINT, "EsAuth": "sigv4"},
      env={"ES_ENDPOINT": AOSS_ENDPOINT, "ES_AUTH": "sigv4"},
      grants={"WriteToServerlessCollection": ("aoss:APIAccessAll", f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/*")}),
    S("sigv4, aoss endpoint with path, collection ARN, EsDocumentIds=false",
      {"EsEndpoint": AOSS_ENDPOINT + "/", "EsAuth": "sigv4", "OpenSearchResourceArn": COLLECTION_ARN,
       "EsDocumentIds": "false"},
      env={"ES_ENDPOINT": AOSS_ENDPOINT + "/", "ES_AUTH": "sigv4", "ES_DOCUMENT_IDS": "false"},
      grants={"WriteToServerlessCollection": ("aoss:APIAccessAll", COLLECTION_ARN)}),
    S("sigv4, custom domain name, EsSigV4Service=aoss, EsSigV4Region",
      {"EsEndpoint": "https://logs.example.com", "EsAuth": "sigv4", "EsSigV4Service": "aoss",
       "EsSigV4Region": "eu-central-1"},
      env={"ES_ENDPOINT": "https://logs.example.com", "ES_AUTH": "sigv4", "ES_SIGV4_SERVICE": "aoss",
           "ES_SIGV4_REGION": "eu-central-1"},
      grants={"WriteToServerlessCollection": ("aoss:APIAccessAll", f"arn:aws:aoss:eu-central-1:{ACCOUNT}:collection/*")}),
    # The function lower-cases host names; the template's aoss test cannot, so upper case is refused.
    S("refused: upper-case *.AOSS.AMAZONAWS.COM host",
      {"EsEndpoint": AOSS_ENDPOINT.upper().replace("HTTPS", "https"), "EsAuth": "sigv4"},
      refused=("Parameter:EsEndpoint",)),
    S("sigv4, aoss endpoint but EsSigV4Service=es: es wins",
      {"EsEndpoint": AOSS_ENDPOINT, "EsAuth": "sigv4", "EsSigV4Service": "es"},
      env={"ES_ENDPOINT": AOSS_ENDPOINT, "ES_AUTH": "sigv4", "ES_SIGV4_SERVICE": "es"},
      grants={"WriteToOpenSearchDomain": ("es:ESHttpPost", f"arn:aws:es:{REGION}:{ACCOUNT}:domain/*")}),
    # --- Logz.io ----------------------------------------------------------------------------------
    S("logzio (defaults): /path token",
      {"Destination": "logzio"},
      env=LOGZIO_ENV,
      grants={"ReadLogzioToken": (GET_PARAMETER, f"{SSM}/logz-io/data-shipping-token")}),
    S("logzio, plain-name token, listener, type",
      {"Destination": "logzio", "LogzioTokenParameter": "logzio-token",
       "LogzioListenerUrl": "https://listener-eu.logz.io:8071", "LogzioType": "app"},
      env={**LOGZIO_ENV, "LOGZIO_LISTENER_URL": "https://listener-eu.logz.io:8071",
           "LOGZIO_TOKEN_PARAMETER": "logzio-token", "LOGZIO_TYPE": "app"},
      grants={"ReadLogzioToken": (GET_PARAMETER, f"{SSM}/logzio-token")}),
    S("logzio, stray EsAuth=basic without user (no rule applies), EsEndpoint, password",
      {"Destination": "logzio", "EsEndpoint": ES_ENDPOINT, "EsAuth": "basic",
       "EsPasswordParameter": "/es/pw", "TlsCaBundle": "/opt/ca.pem"},
      env={**LOGZIO_ENV, "TLS_CA_BUNDLE": "/opt/ca.pem"},
      grants={"ReadLogzioToken": (GET_PARAMETER, f"{SSM}/logz-io/data-shipping-token")}),
    S("logzio, stray Es* sigv4/api_key settings: no es/aoss grant",
      {"Destination": "logzio", "EsEndpoint": AOSS_ENDPOINT, "EsAuth": "sigv4", "EsSigV4Service": "aoss",
       "EsSigV4Region": "eu-west-1", "OpenSearchResourceArn": COLLECTION_ARN, "EsApiKeyParameter": "k"},
      env=LOGZIO_ENV,
      grants={"ReadLogzioToken": (GET_PARAMETER, f"{SSM}/logz-io/data-shipping-token")}),
    S("logzio, stray EsAuth=api_key without key parameter (no rule applies)",
      {"Destination": "logzio", "EsAuth": "api_key", "LogzioTokenParameter": "/team/log-forwarder/logzio-token"},
      env={**LOGZIO_ENV, "LOGZIO_TOKEN_PARAMETER": "/team/log-forwarder/logzio-token"},
      grants={"ReadLogzioToken": (GET_PARAMETER, f"{SSM}/team/log-forwarder/logzio-token")}),
    # --- masking, KMS, stream, retention, subscriptions ------------------------------------------
    S("MaskMode=hash, plain-name key, KmsKeyArn, ExistingStreamArn, retention 0",
      {"EsEndpoint": ES_ENDPOINT, "MaskMode": "hash", "MaskHashKeyParameter": "mask-key",
       "KmsKeyArn": KMS_KEY, "ExistingStreamArn": EXISTING_STREAM, "LogRetentionInDays": "0"},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "none", "MASK_MODE": "hash",
           "MASK_HASH_KEY_PARAMETER": "mask-key"},
      grants={"ReadMaskHashKey": (GET_PARAMETER, f"{SSM}/mask-key"),
              "DecryptWithCustomerKey": ("kms:Decrypt", KMS_KEY)},
      stream=EXISTING_STREAM, retention=None),
    S("MaskMode=hash, /path key, logzio: both parameters readable",
      {"Destination": "logzio", "MaskMode": "hash", "MaskHashKeyParameter": "/log-forwarder/mask-hash-key"},
      env={**LOGZIO_ENV, "MASK_MODE": "hash", "MASK_HASH_KEY_PARAMETER": "/log-forwarder/mask-hash-key"},
      grants={"ReadLogzioToken": (GET_PARAMETER, f"{SSM}/logz-io/data-shipping-token"),
              "ReadMaskHashKey": (GET_PARAMETER, f"{SSM}/log-forwarder/mask-hash-key")}),
    S("MaskMode=marker with a stray hash key parameter, retention 365",
      {"EsEndpoint": ES_ENDPOINT, "MaskHashKeyParameter": "/mask/key", "LogRetentionInDays": "365"},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "none"},
      retention=365),
    S("KmsKeyArn with the stack's own stream",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "basic", "EsUsername": "u", "EsPasswordParameter": "/es/pw",
       "KmsKeyArn": KMS_KEY},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "basic", "ES_USERNAME": "u", "ES_PASSWORD_PARAMETER": "/es/pw"},
      grants={"ReadEsPassword": (GET_PARAMETER, f"{SSM}/es/pw"), "DecryptWithCustomerKey": ("kms:Decrypt", KMS_KEY)}),
    S("LogGroupNames (2), stack's stream: filters and subscription role on it",
      {"EsEndpoint": ES_ENDPOINT, "LogGroupNames": "/aws/lambda/orders,billing"},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "none"},
      subscribed=("/aws/lambda/orders", "billing")),
    S("LogGroupNames (5), ExistingStreamArn",
      {"EsEndpoint": ES_ENDPOINT, "LogGroupNames": "a,b,c,d,e", "ExistingStreamArn": EXISTING_STREAM},
      env={"ES_ENDPOINT": ES_ENDPOINT, "ES_AUTH": "none"},
      stream=EXISTING_STREAM, subscribed=("a", "b", "c", "d", "e")),
    S("every pass-through setting changed",
      {"EsEndpoint": ES_ENDPOINT + "/prefix", "EsIndex": "app-%Y.%m", "EsCompression": "gzip",
       "MaxRequestBytes": "1048576", "MaxConcurrency": "8", "RequestTimeoutMs": "5000",
       "DlqMaxMessageBytes": "65536", "JsonField": "none", "MaxRecordBytes": "1048576",
       "RetryBaseMs": "50", "RetryMaxBackoffMs": "2000", "RetryMaxAttempts": "3",
       "DeadlineMarginMs": "1000", "LogLevel": "log_forwarder=debug", "MaskPii": "email,ip",
       "MaskKeys": "session,card", "MaskPatterns": '["EMP-([0-9]{6})"]'},
      env={"ES_ENDPOINT": ES_ENDPOINT + "/prefix", "ES_AUTH": "none", "ES_INDEX": "app-%Y.%m",
           "ES_COMPRESSION": "gzip", "MAX_REQUEST_BYTES": "1048576", "MAX_CONCURRENCY": "8",
           "REQUEST_TIMEOUT_MS": "5000", "DLQ_MAX_MESSAGE_BYTES": "65536", "JSON_FIELD": "none",
           "MAX_RECORD_BYTES": "1048576", "RETRY_BASE_MS": "50", "RETRY_MAX_BACKOFF_MS": "2000",
           "RETRY_MAX_ATTEMPTS": "3", "DEADLINE_MARGIN_MS": "1000", "LOG_LEVEL": "log_forwarder=debug",
           "MASK_PII": "email,ip", "MASK_KEYS": "session,card", "MASK_PATTERNS": '["EMP-([0-9]{6})"]'}),
    # --- refused before anything is created (Rules, AllowedPattern/AllowedValues) ----------------
    S("refused: elasticsearch without EsEndpoint", {},
      refused=("Rule:ElasticsearchNeedsEndpoint",)),
    S("refused: logzio with an empty LogzioTokenParameter",
      {"Destination": "logzio", "LogzioTokenParameter": ""},
      refused=("Rule:LogzioNeedsTokenParameter",)),
    S("refused: basic without EsUsername",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "basic", "EsPasswordParameter": "/es/pw"},
      refused=("Rule:BasicAuthNeedsUserAndPassword",)),
    S("refused: basic without EsPasswordParameter",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "basic", "EsUsername": "u"},
      refused=("Rule:BasicAuthNeedsUserAndPassword",)),
    S("refused: api_key without EsApiKeyParameter",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "api_key"},
      refused=("Rule:ApiKeyAuthNeedsKeyParameter",)),
    S("refused: MaskMode=hash without MaskHashKeyParameter (logzio too)",
      {"Destination": "logzio", "MaskMode": "hash"},
      refused=("Rule:HashModeNeedsKeyParameter",)),
    S("refused: EsEndpoint with credentials",
      {"EsEndpoint": "https://elastic:secret@es.example.com"},
      refused=("Parameter:EsEndpoint",)),
    S("refused: EsEndpoint with a query string",
      {"EsEndpoint": "https://es.example.com/?pretty"},
      refused=("Parameter:EsEndpoint",)),
    S("refused: SSM names with / but no leading / (the ARN would be wrong)",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "basic", "EsUsername": "u",
       "EsPasswordParameter": "log-forwarder/es-password", "EsApiKeyParameter": "a/b",
       "LogzioTokenParameter": "logz-io/token", "MaskHashKeyParameter": "log-forwarder/key"},
      refused=("Parameter:EsPasswordParameter", "Parameter:EsApiKeyParameter",
               "Parameter:LogzioTokenParameter", "Parameter:MaskHashKeyParameter")),
    S("refused: EsUsername with ':'",
      {"EsEndpoint": ES_ENDPOINT, "EsAuth": "basic", "EsUsername": "a:b", "EsPasswordParameter": "/es/pw"},
      refused=("Parameter:EsUsername",)),
    S("refused: unknown Destination, EsAuth, EsSigV4Service",
      {"Destination": "opensearch", "EsEndpoint": ES_ENDPOINT, "EsAuth": "token", "EsSigV4Service": "opensearch"},
      refused=("Parameter:Destination", "Parameter:EsAuth", "Parameter:EsSigV4Service")),
    S("refused: malformed ARNs (stream, KMS alias, domain/*, SNS)",
      {"EsEndpoint": ES_ENDPOINT, "ExistingStreamArn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:logs",
       "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/logs", "OpenSearchResourceArn": DOMAIN_ARN + "/*",
       "AlarmTopicArn": "alerts"},
      refused=("Parameter:ExistingStreamArn", "Parameter:KmsKeyArn", "Parameter:OpenSearchResourceArn",
               "Parameter:AlarmTopicArn")),
    S("refused: LogRetentionInDays=2, 6 LogGroupNames, reserved JsonField, bad MaskPii",
      {"EsEndpoint": ES_ENDPOINT, "LogRetentionInDays": "2", "LogGroupNames": "a,b,c,d,e,f",
       "JsonField": "message", "MaskPii": "emails"},
      refused=("Parameter:LogRetentionInDays", "Parameter:LogGroupNames", "Parameter:JsonField",
               "Parameter:MaskPii")),
    S("refused: numbers out of range",
      {"EsEndpoint": ES_ENDPOINT, "MaxConcurrency": "65", "BatchSize": "0", "DlqMaxMessageBytes": "1048577"},
      refused=("Parameter:MaxConcurrency", "Parameter:BatchSize", "Parameter:DlqMaxMessageBytes")),
]


# --- CloudFormation's parameter checks and Rules (moto evaluates neither) ----------------------
def refusals(template: dict, given: dict[str, str]) -> list[str]:
    """What CloudFormation would refuse the parameter set for, before creating anything."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SystemExit(f"check-template-scenarios: the table names unknown parameters {unknown}")
    values = {name: str(d.get("Default", "")) for name, d in declared.items()}
    values.update(given)

    refused = []
    for name, d in declared.items():
        value = values[name]
        ok = "Default" in d or name in given
        if "AllowedValues" in d and value not in [str(v) for v in d["AllowedValues"]]:
            ok = False
        if "AllowedPattern" in d and not re.fullmatch(d["AllowedPattern"], value):
            ok = False
        if "MinLength" in d and len(value) < int(d["MinLength"]):
            ok = False
        if "MaxLength" in d and len(value) > int(d["MaxLength"]):
            ok = False
        if d.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                ok = False
            else:
                if "MinValue" in d and number < float(d["MinValue"]):
                    ok = False
                if "MaxValue" in d and number > float(d["MaxValue"]):
                    ok = False
        if not ok:
            refused.append(f"Parameter:{name}")
    if refused:  # parameters are checked first; the rules only see valid values
        return refused

    def ev(x):
        if isinstance(x, dict) and len(x) == 1:
            (fn, arg), = x.items()
            if fn == "Ref":
                return values[arg]
            if fn == "Fn::Equals":
                return str(ev(arg[0])) == str(ev(arg[1]))
            if fn == "Fn::Not":
                return not ev(arg[0])
            if fn == "Fn::And":
                return all(ev(a) for a in arg)
            if fn == "Fn::Or":
                return any(ev(a) for a in arg)
            if fn == "Fn::Contains":
                return ev(arg[1]) in [ev(a) for a in ev(arg[0])]
            raise SystemExit(f"check-template-scenarios: cannot evaluate {fn} in Rules")
        return x

    for rule_name, rule in template.get("Rules", {}).items():
        if ev(rule.get("RuleCondition", True)) and not all(ev(a["Assert"]) for a in rule["Assertions"]):
            refused.append(f"Rule:{rule_name}")
    return refused


# --- deployment into moto ----------------------------------------------------------------------
def normalize(statement: dict) -> tuple:
    actions = statement.get("Action")
    actions = tuple(sorted([actions] if isinstance(actions, str) else actions or []))
    resource = statement.get("Resource")
    resource = resource if isinstance(resource, str) else tuple(resource or [])
    return (statement.get("Effect"), actions, resource)


def expected_statement(action, resource) -> tuple:
    return normalize({"Effect": "Allow", "Action": list(action) if isinstance(action, tuple) else action,
                      "Resource": resource})


def policy_statements(iam, role: str, policy: str) -> dict:
    doc = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    if isinstance(doc, str):
        # moto returns a policy built by CloudFormation as the repr of a Python dict.
        try:
            doc = json.loads(doc)
        except ValueError:
            doc = ast.literal_eval(doc)
    statements = doc["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    # moto leaves Ref AWS::NoValue list items as None; CloudFormation drops them.
    return {st.get("Sid", f"#{i}"): normalize(st) for i, st in enumerate(statements) if st is not None}


def compare_dicts(what: str, expected: dict, actual: dict) -> list[str]:
    diffs = []
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key), actual.get(key)
        if e == a:
            continue
        if key not in actual:
            diffs.append(f"{what} {key} missing (expected {e!r})")
        elif key not in expected:
            diffs.append(f"{what} {key} unexpected: {a!r}")
        else:
            diffs.append(f"{what} {key}: expected {e!r}, got {a!r}")
    return diffs


def deploy_and_compare(template: dict, scenario: Scenario) -> list[str]:
    body = {k: v for k, v in template.items() if k != "Rules"}
    code = template["Resources"]["ForwarderFunction"]["Properties"]["Code"]
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=code["S3Bucket"])
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        s3.put_object(Bucket=code["S3Bucket"], Key=code["S3Key"], Body=archive.getvalue())
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=EXISTING_STREAM_NAME, ShardCount=1)

        cfn = boto3.client("cloudformation", region_name=REGION)
        try:
            cfn.create_stack(
                StackName=STACK, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in scenario.params.items()],
            )
        except Exception as e:  # noqa: BLE001 - moto refusing the stack is the finding
            return [f"create_stack failed: {e}"]
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            return [f"stack {stack['StackStatus']}: {stack.get('StackStatusReason', '')}"]
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
            if r["LogicalResourceId"]
        }
        diffs = []

        # The stream: the stack's own, or ExistingStreamArn (and then no Stream resource).
        if scenario.stream is None:
            if "Stream" not in physical:
                return ["the stack created no Stream"]
            stream = kinesis.describe_stream_summary(StreamName=physical["Stream"])[
                "StreamDescriptionSummary"]["StreamARN"]
        else:
            stream = scenario.stream
            if "Stream" in physical:
                diffs.append("a Stream was created although ExistingStreamArn is given")

        sqs = boto3.client("sqs", region_name=REGION)
        queues = {}
        for name in ("DeadLetterQueue", "OnFailureQueue"):
            queues[name] = sqs.get_queue_attributes(QueueUrl=physical[name], AttributeNames=["All"])["Attributes"]

        # The function's environment (Lambda keeps strings; moto passes Number parameters as ints).
        lam = boto3.client("lambda", region_name=REGION)
        function = physical["ForwarderFunction"]
        config = lam.get_function_configuration(FunctionName=function)
        actual_env = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
        expected_env = {**BASE_ENV, **scenario.env}
        expected_env = {k: (physical["DeadLetterQueue"] if v is DLQ_URL else v)
                        for k, v in expected_env.items() if v is not None}
        diffs += compare_dicts("env", expected_env, actual_env)
        if queues["DeadLetterQueue"].get("MaximumMessageSize") != expected_env["DLQ_MAX_MESSAGE_BYTES"]:
            diffs.append(f"DeadLetterQueue MaximumMessageSize {queues['DeadLetterQueue'].get('MaximumMessageSize')}"
                         f" != DLQ_MAX_MESSAGE_BYTES {expected_env['DLQ_MAX_MESSAGE_BYTES']}")

        # The role: two inline policies, no managed ones, exactly the expected statements.
        iam = boto3.client("iam", region_name=REGION)
        role = config["Role"].rsplit("/", 1)[-1]
        if role != physical["ForwarderFunctionRole"]:
            diffs.append(f"function role {role} is not ForwarderFunctionRole")
        attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        if attached:
            diffs.append(f"managed policies attached: {[p['PolicyName'] for p in attached]}")
        policies = sorted(iam.list_role_policies(RoleName=role)["PolicyNames"])
        if policies != ["log-forwarder", "write-own-logs"]:
            diffs.append(f"inline policies {policies}, expected ['log-forwarder', 'write-own-logs']")
        else:
            expected_grants = {
                "ReadStream": expected_statement(STREAM_READ_ACTIONS, stream),
                "SendDeadLetters": expected_statement("sqs:SendMessage", queues["DeadLetterQueue"]["QueueArn"]),
                "RedriveDeadLetters": expected_statement(
                    ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                     "sqs:GetQueueAttributes"),
                    queues["DeadLetterQueue"]["QueueArn"]),
                "SendOnFailureRecords": expected_statement("sqs:SendMessage", queues["OnFailureQueue"]["QueueArn"]),
                **{sid: expected_statement(*grant) for sid, grant in scenario.grants.items()},
            }
            diffs += compare_dicts("grant", expected_grants, policy_statements(iam, role, "log-forwarder"))
            log_group = physical["ForwarderFunctionLogGroup"]
            diffs += compare_dicts(
                "logs policy",
                {"WriteOwnLogs": expected_statement(
                    ("logs:CreateLogStream", "logs:PutLogEvents"),
                    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{log_group}:*")},
                policy_statements(iam, role, "write-own-logs"),
            )

        # The event source mapping reads that stream and reports to the OnFailure queue.
        mappings = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
        redrive = [m for m in mappings if m["EventSourceArn"] == queues["DeadLetterQueue"]["QueueArn"]]
        mappings = [m for m in mappings if m not in redrive]
        # (Its state is not compared: moto reads `Enabled: "false"` as a true value, where
        # CloudFormation reads a boolean.)
        if len(redrive) != 1:
            diffs.append(f"{len(redrive)} event source mappings read the dead-letter queue, expected 1 (redrive)")
        if [m["EventSourceArn"] for m in mappings] != [stream]:
            diffs.append(f"event source mappings read {[m['EventSourceArn'] for m in mappings]}, expected [{stream!r}]")
        elif mappings[0].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination") != \
                queues["OnFailureQueue"]["QueueArn"]:
            diffs.append("the event source mapping's OnFailure destination is not the OnFailureQueue")

        # The function's log group and its retention.
        logs = boto3.client("logs", region_name=REGION)
        groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function}")["logGroups"]
        if [g["logGroupName"] for g in groups] != [f"/aws/lambda/{function}"]:
            diffs.append(f"log groups {[g['logGroupName'] for g in groups]}, expected /aws/lambda/{function}")
        elif groups[0].get("retentionInDays") != scenario.retention:
            diffs.append(f"log retention {groups[0].get('retentionInDays')}, expected {scenario.retention}")

        # CloudWatch Logs subscriptions: moto does not create AWS::Logs::SubscriptionFilter, so
        # their conditions and properties are resolved with moto's own template evaluation.
        if scenario.subscribed:
            if "SubscriptionRole" not in physical:
                diffs.append("no SubscriptionRole although LogGroupNames is set")
            else:
                diffs += compare_dicts(
                    "subscription role",
                    {"#0": expected_statement(("kinesis:PutRecord", "kinesis:PutRecords"), stream)},
                    policy_statements(iam, physical["SubscriptionRole"], "put-into-stream"),
                )
        elif "SubscriptionRole" in physical:
            diffs.append("a SubscriptionRole was created without LogGroupNames")
        filters = subscription_filters(template)
        expected_filters = [(name, stream) for name in scenario.subscribed]
        if filters != expected_filters:
            diffs.append(f"subscription filters {filters}, expected {expected_filters}")
        return diffs


def subscription_filters(template: dict) -> list[tuple[str, str]]:
    backend = cloudformation_backends[ACCOUNT][REGION]
    stack = next(s for s in backend.stacks.values() if s.name == STACK)
    resources = stack.resource_map
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Logs::SubscriptionFilter":
            continue
        condition = resource.get("Condition")
        if condition and not resources.lazy_condition_map[condition]:
            continue
        properties = clean_json(resource["Properties"], resources)
        found.append((properties["LogGroupName"], properties["DestinationArn"]))
    return found


# --- main --------------------------------------------------------------------------------------
def expand(template: Path, work: Path) -> Path:
    here = Path(__file__).resolve().parent
    tools = Path(os.environ.get("LF_TOOLS") or Path.home() / ".cache/log-forwarder-tools")
    python = tools / "venv-sam/bin/python"
    if not python.exists():
        raise SystemExit(f"check-template-scenarios: no SAM venv at {python.parent.parent}; "
                         "run scripts/lint-template.sh once (it installs it), or pass --expanded")
    out = work / "template.expanded.json"
    translated = subprocess.run(
        [str(python), str(here / "sam-translate.py"), "-t", str(template), str(out)],
        stdout=subprocess.DEVNULL, check=False,
    )
    if translated.returncode != 0:
        raise SystemExit(f"check-template-scenarios: the SAM translator rejected {template} (above)")
    return out


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--expanded", type=Path, help="the template already expanded by scripts/sam-translate.py")
    source.add_argument("-t", "--template", type=Path, default=repo / "template.yaml",
                        help="SAM template to expand and check (default: template.yaml)")
    parser.add_argument("-k", metavar="TEXT", help="only the scenarios whose name contains TEXT")
    args = parser.parse_args()

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        expanded = args.expanded or expand(args.template, Path(work))
        template = json.loads(expanded.read_text())

    failed = 0
    seen_bugs: set[str] = set()
    scenarios = [s for s in SCENARIOS if not args.k or args.k in s.name]
    for scenario in scenarios:
        refused = refusals(template, scenario.params)
        if scenario.refused or refused:
            diffs = [] if sorted(refused) == sorted(scenario.refused) else [
                f"refused by {sorted(refused) or 'nothing'}, expected {sorted(scenario.refused) or 'nothing'}"]
        else:
            diffs = deploy_and_compare(template, scenario)
        note = ""
        if scenario.known_bug:
            pattern = KNOWN_BUGS[scenario.known_bug][1]
            known = [d for d in diffs if pattern.match(d)]
            diffs = [d for d in diffs if not pattern.match(d)]
            if known:
                seen_bugs.add(scenario.known_bug)
                note = f"  [known bug {scenario.known_bug}: {len(known)} difference(s)]"
            else:
                diffs.append(f"known bug {scenario.known_bug} no longer seen: delete it from KNOWN_BUGS "
                             "and from the scenarios' known_bug=")
        if diffs:
            failed += 1
            print(f"  FAIL {scenario.name}: " + "; ".join(diffs))
        else:
            print(f"  ok   {scenario.name}{note}")
    elapsed = time.monotonic() - started
    for bug in sorted(seen_bugs):
        print(f"  known template bug {bug} (not failing the check): {KNOWN_BUGS[bug][0]}")
    print(f"==> template scenarios: {len(scenarios) - failed}/{len(scenarios)} ok ({elapsed:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
