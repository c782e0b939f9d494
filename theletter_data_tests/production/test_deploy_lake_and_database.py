"""Storage the deployment creates: the lake's lifecycle (raw prefixes to Glacier, never serving)
applied on moto, and the instance database (RDS): Multi-AZ, private, encrypted, backed up, its
engine version pinned to the tests' PostgreSQL and its storage growing by itself.
The deployment on moto, its fixtures and helpers: support/moto_deployment.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from theletter_data_tests.support.moto_deployment import DEPLOY, Deployment, load_script

# --- raw data to Glacier -------------------------------------------------------------------


def test_the_lake_lifecycle_archives_the_raw_prefixes_and_never_serving(
    deployment: Deployment,
) -> None:
    from theletter_data.raw.sources import SOURCES

    script = load_script("apply_lake_lifecycle.py")
    configuration = script.rules(deployment.values)
    s3 = deployment.client("s3")
    bucket = deployment.values["LAKE_BUCKET"]
    held = script.apply(s3, bucket, configuration)
    assert script.apply(s3, bucket, configuration) == held  # applying again changes nothing

    prefix = deployment.values["LAKE_PREFIX"]
    archived = {r["Filter"]["Prefix"]: r["Transitions"] for r in held if "Transitions" in r}
    assert set(archived) == {f"{prefix}{s.prefix}/" for s in SOURCES}
    for raw in ("ses-events/", "pageviews/", "app-logs/", "appdb/posts/"):
        assert f"{prefix}{raw}" in archived
    for transitions in archived.values():
        assert transitions == [
            {"Days": 90, "StorageClass": "GLACIER_IR"},
            {"Days": 365, "StorageClass": "DEEP_ARCHIVE"},
        ]
    for key in (
        "serving/v1/manifest.json",
        "serving/v1/newsletters/nl_00001.json",
        "appdb/_extract/posts/state.json",  # rewritten each run: never archived
    ):
        assert not any(f"{prefix}{key}".startswith(p) for p in archived), key
    (abort,) = [r for r in held if "AbortIncompleteMultipartUpload" in r]
    assert abort["Filter"] == {"Prefix": prefix}

    command = [sys.executable, str(DEPLOY / "apply_lake_lifecycle.py"), "--dry-run"]
    done = subprocess.run(command, env=deployment.values, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == configuration


# --- the instance database -------------------------------------------------------------------


def test_the_instance_database_is_multi_az_private_encrypted_and_backed_up(
    deployment: Deployment,
) -> None:
    rds = deployment.client("rds")
    created = rds.create_db_instance(**deployment.render("rds/dagster-postgres.json"))
    instance = created["DBInstance"]
    assert instance["MultiAZ"] is True and instance["Engine"] == "postgres"
    assert instance["StorageEncrypted"] is True and instance["PubliclyAccessible"] is False
    assert instance["BackupRetentionPeriod"] == 7 and instance["DeletionProtection"] is True
    assert instance["DBSubnetGroup"]["DBSubnetGroupName"] == deployment.values["DB_SUBNET_GROUP"]
    assert [g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]] == [
        deployment.values["RDS_SG"]
    ]
    assert "MasterUserPassword" not in deployment.render("rds/dagster-postgres.json")


def test_the_instance_database_is_pinned_sized_and_grows_by_itself(
    deployment: Deployment,
) -> None:
    """The engine version is pinned (and not moved by RDS behind the file's back), is the major
    version the tests' PostgreSQL runs, and storage grows by itself up to a ceiling; the size
    is the one deploy/README.md derives from the measured load."""
    spec = deployment.render("rds/dagster-postgres.json")
    major, minor = spec["EngineVersion"].split(".")
    assert minor.isdigit() and spec["AutoMinorVersionUpgrade"] is False
    tests_server = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert tests_server, "the tests' PostgreSQL is not installed"
    assert major == tests_server[-1].parents[1].name
    assert spec["MaxAllocatedStorage"] >= 5 * spec["AllocatedStorage"]
    rds = deployment.client("rds")
    spec["DBInstanceIdentifier"] += "-sized"
    created = rds.create_db_instance(**spec)["DBInstance"]
    assert created["EngineVersion"] == spec["EngineVersion"]
    assert created["MaxAllocatedStorage"] == spec["MaxAllocatedStorage"]
    assert created["DBInstanceClass"] == spec["DBInstanceClass"]
    section = (DEPLOY / "README.md").read_text().split("\n## The instance database")[1]
    section = section.split("\n## ")[0]
    for figure in (
        spec["DBInstanceClass"],
        f"`EngineVersion` {spec['EngineVersion']}",
        f"`MaxAllocatedStorage` {spec['MaxAllocatedStorage']}",
        "328 rows",  # test_instance_database_load.py measures these
        "30 rows",
    ):
        assert figure in section, figure
