#!/usr/bin/env python3
"""Expands the SAM template to plain CloudFormation JSON, offline, with the SAM translator.

    sam-translate.py [-t template.yaml] [-p Name=Value ...] OUTPUT.json

`sam validate --lint` and cfn-lint on the SAM file check AWS::Serverless::* resources against
SAM's own schema only, so wrong values that SAM passes through (Architectures, Runtime,
FunctionResponseTypes, StartingPosition, BatchSize range, bad !GetAtt) go unnoticed. Running
cfn-lint on this script's output checks the resources CloudFormation will really receive.

Runs in the SAM venv ($LF_TOOLS/venv-sam, see scripts/requirements-sam.txt): `samtranslator`
comes with aws-sam-cli. Needs no AWS account or network: the managed-policy lookup (an IAM call
in `sam deploy`) is replaced by a fixed map, and a local CodeUri by an s3:// placeholder (what
`sam package` would put there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# The translator asks boto3 for a region (pseudo parameters, ARN partition); no call is made.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

PLACEHOLDER_CODE_URI = "s3://log-forwarder-placeholder/log-forwarder.zip"

# AWS managed policies SAM may look up by name (Policies: [Name]); SAM writes the ARNs of the
# ones it adds by itself (basic execution, Kinesis poller) without a lookup.
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for path, name in [
        ("service-role/", "AWSLambdaBasicExecutionRole"),
        ("service-role/", "AWSLambdaKinesisExecutionRole"),
        ("service-role/", "AWSLambdaSQSQueueExecutionRole"),
        ("service-role/", "AWSLambdaVPCAccessExecutionRole"),
        ("", "AWSXRayDaemonWriteAccess"),
        ("", "CloudWatchLambdaInsightsExecutionRolePolicy"),
    ]
}


class OfflineManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which lists policies through IAM."""

    def load(self) -> dict[str, str]:
        return dict(MANAGED_POLICIES)


def replace_local_code(template: dict) -> None:
    """Local CodeUri (a directory to build) → the s3:// URI `sam package` would upload it to."""
    functions = [
        resource.get("Properties")
        for resource in template.get("Resources", {}).values()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    ]
    functions.append(template.get("Globals", {}).get("Function"))
    for properties in functions:
        if not isinstance(properties, dict):
            continue
        uri = properties.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            properties["CodeUri"] = PLACEHOLDER_CODE_URI


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the CloudFormation JSON")
    parser.add_argument("-t", "--template", type=Path, default=repo / "template.yaml")
    parser.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
        help="parameter value for the translation (repeatable)",
    )
    args = parser.parse_args()

    parameters = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--parameter expects NAME=VALUE, got {item!r}")
        parameters[name] = value

    try:
        template = yaml_parse(args.template.read_text())
    except Exception as e:  # noqa: BLE001 - any parse error is reported the same way
        print(f"sam-translate: cannot read {args.template}: {e}", file=sys.stderr)
        return 1
    if not isinstance(template, dict):
        print(f"sam-translate: {args.template} is not a template (a YAML mapping)", file=sys.stderr)
        return 1
    replace_local_code(template)

    try:
        expanded = transform(template, parameters, OfflineManagedPolicyLoader())
    except InvalidDocumentException as e:
        print(f"sam-translate: {args.template} is not a valid SAM template:", file=sys.stderr)
        for cause in e.causes:
            print(f"  - {cause.message}", file=sys.stderr)
        return 1

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(expanded, indent=2, sort_keys=False) + "\n")
    print(f"sam-translate: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
