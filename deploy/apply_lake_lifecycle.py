#!/usr/bin/env python3
"""Apply the lake's lifecycle rules (deploy/s3/lake-lifecycle.json) to its bucket, and check
what S3 then holds is exactly them.

    set -a; . ./production.env; set +a          # LAKE_BUCKET, LAKE_PREFIX, REGION, ...
    python3 deploy/apply_lake_lifecycle.py [--dry-run]

Each raw source's prefix moves by its retention class (theletter_data/raw/sources.py: to S3
Glacier Instant Retrieval after 90 days and to Glacier Deep Archive after a year); `serving/`
(what the web app reads) and everything else stay in S3 Standard. The file is generated from
those declarations (`deploy/render.py --generate`), and `put-bucket-lifecycle-configuration`
replaces the bucket's whole configuration, so it is the one place these rules live. Needs boto3;
AWS_ENDPOINT_URL points it elsewhere (tests: moto).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).parent / "s3" / "lake-lifecycle.json"


def rules(values: dict[str, str]) -> dict[str, Any]:
    """The lifecycle configuration with the deployment's values filled in."""
    spec = importlib.util.spec_from_file_location(
        "deploy_render", Path(__file__).parent / "render.py"
    )
    assert spec and spec.loader
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    return render.render(json.loads(TEMPLATE.read_text()), values)


def apply(s3: Any, bucket: str, configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """Put the configuration and return the rules S3 holds afterwards (equal, or it raises)."""
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=configuration)
    held = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    if _canonical(held) != _canonical(configuration["Rules"]):
        raise SystemExit(f"s3://{bucket} holds other lifecycle rules than {TEMPLATE.name}")
    return held


def _canonical(rule_list: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(rule, sort_keys=True) for rule in rule_list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="Print the rules, apply nothing.")
    args = parser.parse_args(argv)
    configuration = rules(dict(os.environ))
    if args.dry_run:
        print(json.dumps(configuration, indent=2))
        return 0
    import boto3

    bucket = os.environ["LAKE_BUCKET"]
    held = apply(boto3.client("s3"), bucket, configuration)
    print(f"s3://{bucket}: {len(held)} lifecycle rules applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
