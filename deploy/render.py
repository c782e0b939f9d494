#!/usr/bin/env python3
"""Render one deploy/ JSON template for the AWS CLI: every `${NAME}` placeholder in a string
becomes the value of the environment variable NAME.

    set -a; . ./production.env; set +a          # ACCOUNT_ID=..., REGION=..., one per line
    python3 deploy/render.py deploy/ecs/webserver.json > build/webserver.json
    python3 deploy/render.py deploy/iam/run-task-role.json | aws iam put-role-policy ... \\
        --policy-document file:///dev/stdin

The template is parsed as JSON and only string values are substituted, so a value can never
break the document. It fails, naming them, when a placeholder is not one of PLACEHOLDERS, when
a variable is unset, or when a value does not have its expected shape. Standard library only.

The lake's prefixes in the templates are generated, not written by hand: the S3 statements of
the roles that read or write the lake (`lake_statements`) and the whole of s3/lake-lifecycle.json
come from the raw sources' declarations (theletter_data/raw/sources.py). After changing those:

    .venv/bin/python deploy/render.py --generate     # rewrite the templates (--check: compare)

which needs the project installed (the tests compare the committed templates with it).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

_ARN = r"arn:aws:"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"

PLACEHOLDERS: dict[str, tuple[str, str]] = {
    # name: (meaning, regular expression the value must match in full)
    "ACCOUNT_ID": ("AWS account id", r"\d{12}"),
    "REGION": ("AWS region", r"[a-z]{2}(-[a-z]+)+-\d"),
    "IMAGE": (
        "image URI in ECR, pinned by tag or digest (also DAGSTER_CURRENT_IMAGE)",
        r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})",
    ),
    "ECR_REPOSITORY": ("ECR repository name", r"[a-z0-9._/-]+"),
    "GITHUB_REPOSITORY": ("owner/name of the GitHub repository that deploys", r"[\w.-]+/[\w.-]+"),
    "CLUSTER": ("ECS cluster name", _NAME),
    "LOG_GROUP": ("CloudWatch Logs group of every service and run", r"[A-Za-z0-9_./#-]+"),
    "SUBNET_1": ("private subnet, first AZ", r"subnet-[0-9a-f]+"),
    "SUBNET_2": ("private subnet, second AZ", r"subnet-[0-9a-f]+"),
    "CODE_SERVER_SG": ("security group of the code server", r"sg-[0-9a-f]+"),
    "WEBSERVER_SG": ("security group of the webserver", r"sg-[0-9a-f]+"),
    "DAEMON_SG": ("security group of the daemon", r"sg-[0-9a-f]+"),
    "RUN_SG": ("security group of run tasks (egress only)", r"sg-[0-9a-f]+"),
    "CODE_SERVER_DISCOVERY_ARN": (
        "Cloud Map service `code-server` in namespace theletter.internal",
        _ARN + r"servicediscovery:.+",
    ),
    "VPC_ID": ("VPC of the deployment", r"vpc-[0-9a-f]+"),
    "ALB_ARN": ("the internet-facing ALB", _ARN + r"elasticloadbalancing:.+"),
    "TARGET_GROUP_ARN": ("the webserver's target group", _ARN + r"elasticloadbalancing:.+"),
    "CERTIFICATE_ARN": ("ACM certificate of the UI's host name", _ARN + r"acm:.+"),
    "OIDC_CLIENT_ID": ("Google OAuth client id (Internal consent screen)", r"\S+"),
    "OIDC_CLIENT_SECRET": ("Google OAuth client secret (render to a pipe only)", r"\S+"),
    "DB_SUBNET_GROUP": ("RDS subnet group over the two private subnets", r"[a-z][a-z0-9-]*"),
    "RDS_SG": ("security group of the RDS instance", r"sg-[0-9a-f]+"),
    "PG_HOST": ("RDS endpoint host name", r"[A-Za-z0-9.-]+"),
    "PG_DB": ("database of the Dagster instance", _NAME),
    "PG_USERNAME": ("database user of the Dagster instance", _NAME),
    "PG_PASSWORD_SECRET_ARN": ("secret: that user's password", _ARN + r"secretsmanager:.+"),
    "PSEUDONYM_KEY_SECRET_ARN": ("secret: HMAC pseudonym key", _ARN + r"secretsmanager:.+"),
    "GCP_CREDENTIALS_SECRET_ARN": (
        "secret: base64 WIF credential config (or key)",
        _ARN + r"secretsmanager:.+",
    ),
    "APPDB_PASSWORD_SECRET_ARN": (
        "secret: the app database's read-only password (only when it is read directly)",
        _ARN + r"secretsmanager:.+",
    ),
    "SLACK_WEBHOOK_SECRET_ARN": (
        "secret: Slack incoming-webhook URL for alerts",
        _ARN + r"secretsmanager:.+",
    ),
    "DAGSTER_UI_URL": ("the UI's https:// URL, for links in alerts", r"https://\S+"),
    "LAKE_BUCKET": ("S3 bucket of the lake", r"[a-z0-9][a-z0-9.-]+"),
    "LAKE_PREFIX": ("lake root inside the bucket: empty, or ending with '/'", r"(|[^\s*?]+/)"),
    "COMPUTE_LOG_BUCKET": ("S3 bucket of step logs", r"[a-z0-9][a-z0-9.-]+"),
    "BIGQUERY_PROJECT": ("GCP project of the warehouse", r"[a-z][a-z0-9-]+"),
    "BIGQUERY_LOCATION": ("BigQuery location", r"[A-Za-z0-9-]+"),
    "BIGQUERY_DATASET_PREFIX": ("prefix of the theletter datasets", r"[A-Za-z0-9_]*"),
    "BIGQUERY_MAXIMUM_BYTES_BILLED": ("per-query byte cap", r"\d+"),
}


class RenderError(ValueError):
    pass


def placeholders_in(value: Any) -> set[str]:
    """Every placeholder name used anywhere in a parsed JSON document."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(placeholders_in(v) for v in value.values()), set())
    if isinstance(value, list):
        return set().union(*(placeholders_in(v) for v in value), set())
    return set()


def render(document: Any, values: Mapping[str, str]) -> Any:
    """The document with every placeholder replaced; RenderError lists every problem at once."""
    used = placeholders_in(document)
    problems = [f"unknown placeholder ${{{n}}}" for n in sorted(used - PLACEHOLDERS.keys())]
    for name in sorted(used & PLACEHOLDERS.keys()):
        meaning, pattern = PLACEHOLDERS[name]
        if name not in values:
            problems.append(f"{name} is not set ({meaning})")
        elif not re.fullmatch(pattern, values[name]):
            problems.append(f"{name}={values[name]!r} does not look like: {meaning}")
    if problems:
        raise RenderError("; ".join(problems))
    return _substitute(document, values)


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    return value


# --- the templates' lake prefixes, generated from theletter_data/raw/sources.py ---------------

DEPLOY = Path(__file__).parent
LIFECYCLE = "s3/lake-lifecycle.json"
_BUCKET = "arn:aws:s3:::${LAKE_BUCKET}"


def _objects(prefixes: list[str]) -> list[str]:
    return [f"{_BUCKET}/${{LAKE_PREFIX}}{p}/*" for p in prefixes]


def _listing(sid: str, prefixes: list[str]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": _BUCKET,
        "Condition": {"StringLike": {"s3:prefix": [f"${{LAKE_PREFIX}}{p}/*" for p in prefixes]}},
    }


def _access(sid: str, actions: list[str], prefixes: list[str]) -> dict[str, Any]:
    resources = _objects(prefixes)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions[0] if len(actions) == 1 else actions,
        "Resource": resources[0] if len(resources) == 1 else resources,
    }


def lake_statements() -> dict[str, list[dict[str, Any]]]:
    """Per template, the statements (by Sid) that grant its role the lake's prefixes; its other
    statements are written by hand. Runs and sensors read and list every raw source; runs
    write `serving/`; where the app database is read directly, runs write the app tables'
    snapshots and keep the extraction's work area."""
    from theletter_data.raw.sources import EXTRACTION_WORK, SERVING, SOURCES

    raw = [s.prefix for s in SOURCES]
    extracted = [s.prefix for s in SOURCES if s.app_table]
    work = [EXTRACTION_WORK.prefix]
    write = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    return {
        "iam/run-task-role.json": [
            _listing("ListRawAndServingPrefixes", [*raw, SERVING.prefix]),
            _access("ReadRawPrefixes", ["s3:GetObject"], raw),
            _access("ReadWriteServing", ["s3:GetObject", *write], [SERVING.prefix]),
        ],
        "iam/code-server-task-role.json": [
            _listing("ListRawPrefixes", raw),
            _access("ReadRawPrefixes", ["s3:GetObject"], raw),
        ],
        "iam/appdb-extract-run-role.json": [
            _access("WriteAppDbSnapshots", write, [*extracted, *work]),
            _listing("ListExtractionWork", work),
            _access("ReadExtractionWork", ["s3:GetObject"], work),
        ],
    }


def lake_lifecycle() -> dict[str, Any]:
    """One rule per source or lake area whose retention class archives it; `serving/` and the
    extraction's work area never move; incomplete uploads anywhere are aborted after 7 days."""
    from theletter_data.raw.sources import AREAS, SOURCES

    rules = [
        {
            "ID": f"{area.prefix.replace('/', '-')}-{area.retention.name}",
            "Status": "Enabled",
            "Filter": {"Prefix": f"${{LAKE_PREFIX}}{area.prefix}/"},
            "Transitions": [
                {"Days": days, "StorageClass": storage_class}
                for days, storage_class in area.retention.transitions
            ],
        }
        for area in (*SOURCES, *AREAS)
        if area.retention.transitions
    ]
    abort = {
        "ID": "abort-incomplete-uploads",
        "Status": "Enabled",
        "Filter": {"Prefix": "${LAKE_PREFIX}"},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    return {"Rules": [*rules, abort]}


def generated_templates() -> dict[str, Any]:
    """Each template whose lake prefixes are generated, as the declarations make it: the
    generated statements replace theirs (same Sid, same place; new ones are appended), every
    other statement is kept as written."""
    documents = {LIFECYCLE: lake_lifecycle()}
    for template, statements in lake_statements().items():
        document = json.loads((DEPLOY / template).read_text())
        by_sid = {s["Sid"]: s for s in statements}
        kept = [by_sid.pop(s["Sid"], s) for s in document["Statement"]]
        document["Statement"] = [*kept, *by_sid.values()]
        documents[template] = document
    return documents


def formatted(value: Any, indent: int = 0) -> str:
    """JSON as these templates are written: a container of plain values on one line when it
    fits in 100 columns, a statement or rule always over several."""
    flat = json.dumps(value)
    plain = isinstance(value, list | dict) and not any(
        isinstance(v, list | dict) and any(isinstance(w, list | dict) for w in _items(v))
        for v in _items(value)
    )
    whole = isinstance(value, dict) and ("Sid" in value or "ID" in value)
    if not isinstance(value, list | dict) or (plain and not whole and indent + len(flat) < 90):
        return flat
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, list):
        lines = [f"{inner}{formatted(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(lines) + f"\n{pad}]"
    lines = [f"{inner}{json.dumps(k)}: {formatted(v, indent + 2)}" for k, v in value.items()]
    return "{\n" + ",\n".join(lines) + f"\n{pad}}}"


def _items(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value)


def generate(check: bool) -> int:
    """Rewrite the generated templates, or (`check`) name those that differ and fail."""
    differing = []
    for template, document in generated_templates().items():
        path = DEPLOY / template
        if json.loads(path.read_text()) == document:
            continue
        differing.append(template)
        if not check:
            path.write_text(formatted(document) + "\n")
    verb = "differ from theletter_data/raw/sources.py" if check else "rewritten"
    for template in differing:
        print(f"deploy/{template}: {verb}", file=sys.stderr)
    return 1 if check and differing else 0


def main(argv: list[str]) -> int:
    if argv in (["--generate"], ["--generate", "--check"], ["--check"]):
        return generate(check="--check" in argv)
    if len(argv) != 1:
        print(
            "usage: render.py TEMPLATE.json  (values from the environment)\n"
            "       render.py --generate [--check]  (the lake prefixes, from raw/sources.py)",
            file=sys.stderr,
        )
        return 2
    document = json.loads(Path(argv[0]).read_text())
    try:
        rendered = render(document, os.environ)
    except RenderError as e:
        print(f"{argv[0]}: {e}", file=sys.stderr)
        return 2
    json.dump(rendered, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
