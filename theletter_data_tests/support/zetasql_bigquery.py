"""ZetaSQL, Google's SQL front end (the `zetasql` package: ZetaSQL compiled to WebAssembly, run by
wasmtime, offline), set up to analyse statements as BigQuery would: BigQuery's language options,
and a catalog of this deployment's datasets built from the project's `Table` declarations
(support/zetasql_catalog.py).

One module over 300 lines, as about 60 of them are BigQuery's language features and statement
kinds: the analyzer, its language options and the parse-tree helpers only it uses are one thing.

It shares no code with the project's SQL path (sqlglot), which the BigQuery emulator also runs:
a statement that both get wrong still fails here.

Starting the analyzer compiles a 28 MB WebAssembly module (15-30 s on a small machine); wasmtime's
own code cache (`~/.cache/wasmtime`) keeps the compiled code, so later starts take well under a
second. Start it once per test session (the `zetasql` fixture).
"""

from __future__ import annotations

import contextlib
import gc
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from theletter_data.tables import Table
from theletter_data_tests.support.bigquery_statements import LoadedTable, SentStatement
from theletter_data_tests.support.zetasql_catalog import bigquery_catalog, zetasql_type

if TYPE_CHECKING:
    from zetasql.core.local_service import ZetaSqlLocalService
    from zetasql.types import LanguageOptions

# BigQuery's language features, as Google's zetasql-toolkit enables them for BigQuery
# (GoogleCloudPlatform/professional-services, tools/zetasql-helper, BigQueryLanguageOptions),
# with the `V_1_x_` version infixes that newer ZetaSQL dropped from the names.
BIGQUERY_FEATURES = (
    "ALLOW_MISSING_PATH_EXPRESSION_IN_ALTER_DDL", "ALTER_COLUMN_SET_DATA_TYPE",
    "ALTER_TABLE_RENAME_COLUMN", "ANALYTIC_FUNCTIONS", "ANONYMIZATION", "BIGNUMERIC_TYPE",
    "CBRT_FUNCTIONS", "CREATE_EXTERNAL_TABLE_WITH_CONNECTION",
    "CREATE_EXTERNAL_TABLE_WITH_PARTITION_COLUMNS",
    "CREATE_EXTERNAL_TABLE_WITH_TABLE_ELEMENT_LIST", "CREATE_MATERIALIZED_VIEW_CLUSTER_BY",
    "CREATE_MATERIALIZED_VIEW_PARTITION_BY", "CREATE_SNAPSHOT_TABLE",
    "CREATE_TABLE_AS_SELECT_COLUMN_LIST", "CREATE_TABLE_CLONE", "CREATE_TABLE_CLUSTER_BY",
    "CREATE_TABLE_COPY", "CREATE_TABLE_FIELD_ANNOTATIONS", "CREATE_TABLE_FUNCTION",
    "CREATE_TABLE_LIKE", "CREATE_TABLE_NOT_NULL", "CREATE_TABLE_PARTITION_BY",
    "CREATE_VIEW_WITH_COLUMN_LIST", "DML_UPDATE_WITH_JOIN", "ENCRYPTION", "FOREIGN_KEYS",
    "GEOGRAPHY", "GROUP_BY_ROLLUP", "INTERVAL_TYPE", "INVERSE_TRIG_FUNCTIONS",
    "JSON_ARRAY_FUNCTIONS", "JSON_TYPE", "JSON_VALUE_EXTRACTION_FUNCTIONS", "NAMED_ARGUMENTS",
    "NUMERIC_TYPE", "PARAMETERIZED_TYPES", "PARAMETERS_IN_GRANTEE_LIST",
    "ROUND_WITH_ROUNDING_MODE", "TABLESAMPLE", "TABLE_VALUED_FUNCTIONS", "TEMPLATE_FUNCTIONS",
    "TIMESTAMP_NANOS", "TIME_BUCKET_FUNCTIONS", "UNENFORCED_PRIMARY_KEYS",
    "HAVING_IN_AGGREGATE", "LIMIT_IN_AGGREGATE", "NULL_HANDLING_MODIFIER_IN_AGGREGATE",
    "NULL_HANDLING_MODIFIER_IN_ANALYTIC", "ORDER_BY_IN_AGGREGATE", "SELECT_STAR_EXCEPT_REPLACE",
    "CIVIL_TIME", "SAFE_FUNCTION_CALL", "WEEK_WITH_WEEKDAY", "ADDITIONAL_STRING_FUNCTIONS",
    "ALLOW_DASHES_IN_TABLE_NAME", "ALLOW_REGEXP_EXTRACT_OPTIONALS", "ANNOTATION_FRAMEWORK",
    "CASE_STMT", "COLLATION_SUPPORT", "COLUMN_DEFAULT_VALUE", "CONCAT_MIXED_TYPES",
    "DATE_ARITHMETICS", "DATE_TIME_CONSTRUCTORS", "DECIMAL_ALIAS",
    "EXTENDED_DATE_TIME_SIGNATURES", "EXTENDED_GEOGRAPHY_PARSERS", "FORMAT_IN_CAST", "FOR_IN",
    "IS_DISTINCT", "LIKE_ANY_SOME_ALL", "NULLS_FIRST_LAST_IN_ORDER_BY", "OMIT_INSERT_COLUMN_LIST",
    "PIVOT", "QUALIFY", "REMOTE_FUNCTION", "REPEAT", "SCRIPT_LABEL", "UNNEST_AND_FLATTEN_ARRAYS",
    "UNPIVOT", "WITH_GROUP_ROWS", "WITH_RECURSIVE",
    # Not in the toolkit's list, yet BigQuery has it: "The full SELECT syntax is valid in
    # subqueries" (GoogleSQL for BigQuery, Subqueries), WITH included.
    "WITH_ON_SUBQUERY",
)  # fmt: skip

# The statements BigQuery runs (the same toolkit's list; its DROP_SEARCH_INDEX_STMT is
# DROP_INDEX_STMT in newer ZetaSQL).
BIGQUERY_STATEMENT_KINDS = (
    "ADD_CONSTRAINT_ACTION", "ALTER_ENTITY_STMT", "ALTER_MATERIALIZED_VIEW_STMT",
    "ALTER_MODEL_STMT", "ALTER_SCHEMA_STMT", "ALTER_TABLE_STMT", "ALTER_VIEW_STMT", "ASSERT_STMT",
    "ASSIGNMENT_STMT", "AUX_LOAD_DATA_STMT", "BEGIN_STMT", "CALL_STMT", "COMMIT_STMT",
    "CREATE_ENTITY_STMT", "CREATE_EXTERNAL_TABLE_STMT", "CREATE_FUNCTION_STMT",
    "CREATE_INDEX_STMT", "CREATE_MATERIALIZED_VIEW_STMT", "CREATE_MODEL_STMT",
    "CREATE_PROCEDURE_STMT", "CREATE_ROW_ACCESS_POLICY_STMT", "CREATE_SCHEMA_STMT",
    "CREATE_SNAPSHOT_TABLE_STMT", "CREATE_TABLE_AS_SELECT_STMT", "CREATE_TABLE_FUNCTION_STMT",
    "CREATE_TABLE_STMT", "CREATE_VIEW_STMT", "DELETE_STMT", "DROP_CONSTRAINT_ACTION",
    "DROP_FUNCTION_STMT", "DROP_MATERIALIZED_VIEW_STMT", "DROP_ROW_ACCESS_POLICY_STMT",
    "DROP_INDEX_STMT", "DROP_SNAPSHOT_TABLE_STMT", "DROP_STMT", "DROP_TABLE_FUNCTION_STMT",
    "EXECUTE_IMMEDIATE_STMT", "EXPORT_DATA_STMT", "EXPORT_MODEL_STMT", "GRANT_STMT",
    "INSERT_STMT", "MERGE_STMT", "QUERY_STMT", "REVOKE_STMT", "ROLLBACK_STMT", "TRUNCATE_STMT",
    "UPDATE_STMT",
)  # fmt: skip

# QUALIFY is reserved in BigQuery; ZetaSQL reserves it only on request (without it, QUALIFY
# after a FROM with no WHERE/GROUP BY is a syntax error: googlesql#115).
BIGQUERY_RESERVED_KEYWORDS = ("QUALIFY",)
BIGQUERY_DEFAULT_TIME_ZONE = "UTC"


def bigquery_language_options() -> LanguageOptions:
    from zetasql.types import (
        LanguageFeature,
        LanguageOptions,
        NameResolutionMode,
        ProductMode,
        ResolvedNodeKind,
    )

    return LanguageOptions(
        name_resolution_mode=NameResolutionMode.NAME_RESOLUTION_DEFAULT,
        product_mode=ProductMode.PRODUCT_EXTERNAL,
        enabled_language_features=[LanguageFeature[f"FEATURE_{f}"] for f in BIGQUERY_FEATURES],
        supported_statement_kinds=[
            ResolvedNodeKind[f"RESOLVED_{k}"] for k in BIGQUERY_STATEMENT_KINDS
        ],
        reserved_keywords=list(BIGQUERY_RESERVED_KEYWORDS),
    )


@dataclass(frozen=True)
class Rejection:
    """A statement (or one statement of a script) that ZetaSQL refused, with its message."""

    statement: SentStatement
    message: str
    text: str
    """What was analysed: the statement, or the one statement of a script the message is about."""

    def __str__(self) -> str:
        return (
            f"{self.statement.origin}: {self.message}\n"
            f"    near: {_near(self.text, self.message)}\n"
            f"    parameters: {dict(self.statement.parameters)}"
        )


@dataclass
class Analysis:
    """What one `analyze` call did."""

    statements: int = 0
    """Distinct statements (text and parameter types) analysed."""
    sql_statements: int = 0
    """SQL statements resolved against the catalog (a script's BEGIN TRANSACTION, each DML, ...)."""
    scripting: list[tuple[SentStatement, str]] = field(default_factory=list)
    """Scripting statements (BEGIN...END blocks, DECLARE, IF, RAISE, ...) that ZetaSQL parsed
    but cannot resolve: its analyzer takes SQL statements only."""
    rejections: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0


class BigQueryAnalyzer:
    """One ZetaSQL service; analyses statements against a catalog of one deployment's datasets
    (`project`, `dataset_prefix`) holding the declared tables and the tables loads created."""

    def __init__(self, service: ZetaSqlLocalService, start_seconds: float) -> None:
        self.service = service
        self.start_seconds = start_seconds
        self.language = bigquery_language_options()

    def analyze(
        self,
        statements: Iterable[SentStatement],
        *,
        project: str,
        dataset_prefix: str,
        tables: Sequence[Table],
        loads: Sequence[LoadedTable] = (),
    ) -> Analysis:
        """Analyse each distinct statement once (a dry run and its run send the same one)."""
        started = time.monotonic()
        catalog = bigquery_catalog(project, dataset_prefix, tables, loads, self.language)
        catalog_id = self.service.register_catalog(simple_catalog=catalog).registered_id
        analysis = Analysis()
        try:
            distinct: dict[tuple[str, tuple[tuple[str, str], ...]], SentStatement] = {}
            for statement in statements:
                distinct.setdefault((statement.sql, statement.parameters), statement)
            for statement in distinct.values():
                self._analyze_text(statement, catalog_id, analysis)
                analysis.statements += 1
        finally:
            self.service.unregister_catalog(registered_id=catalog_id)
        analysis.seconds = time.monotonic() - started
        return analysis

    def _analyze_text(self, statement: SentStatement, catalog_id: int, into: Analysis) -> None:
        """Each statement of the text in turn, as BigQuery runs a script: `BEGIN TRANSACTION;
        MERGE ...; COMMIT TRANSACTION;` is three SQL statements. A script with scripting
        statements (a BEGIN...EXCEPTION...END block, say) is split by ZetaSQL's script parser,
        and each SQL statement inside it analysed on its own."""
        from zetasql.core.exceptions import ServerError

        text = statement.sql.encode()  # ZetaSQL's positions count bytes
        position, analysed = 0, 0
        while _remaining(text, position):
            try:
                response = self._call("Analyze", self._request(statement, catalog_id, position))
            except ServerError as error:
                if _message(error).startswith("Syntax error") and self._analyze_script(
                    statement, catalog_id, into
                ):
                    return
                into.rejections.append(Rejection(statement, _message(error), statement.sql))
                return
            analysed += 1
            if response.resume_byte_position <= position:
                break
            position = response.resume_byte_position
        into.sql_statements += analysed

    def _analyze_script(self, statement: SentStatement, catalog_id: int, into: Analysis) -> bool:
        """False if the text is no script ZetaSQL can parse either."""
        from zetasql.core.exceptions import ServerError
        from zetasql.types import ParseRequest

        request = ParseRequest(
            sql_statement=statement.sql, allow_script=True, options=self.language
        )
        try:
            script = self._call("Parse", request).parsed_script
        except ServerError:
            return False
        text = statement.sql.encode()
        for kind, (start, end) in _script_statements(script):
            if kind is not None:
                into.scripting.append((statement, kind))
                continue
            part = text[start:end].decode()
            try:
                self._call("Analyze", self._request(statement, catalog_id, sql=part))
            except ServerError as error:
                into.rejections.append(Rejection(statement, _message(error), part))
            else:
                into.sql_statements += 1
        return True

    def _request(
        self, statement: SentStatement, catalog_id: int, position: int = 0, sql: str | None = None
    ) -> Any:
        from zetasql.types import (
            AnalyzeRequest,
            AnalyzerOptions,
            ErrorMessageMode,
            ParseResumeLocation,
        )

        options = AnalyzerOptions(
            language_options=self.language,
            query_parameters=[
                AnalyzerOptions.QueryParameter(name=name, type=zetasql_type(kind))
                for name, kind in statement.parameters
            ],
            error_message_mode=ErrorMessageMode.ERROR_MESSAGE_ONE_LINE,
            default_timezone=BIGQUERY_DEFAULT_TIME_ZONE,
        )
        if sql is not None:
            return AnalyzeRequest(
                sql_statement=sql, options=options, registered_catalog_id=catalog_id
            )
        location = ParseResumeLocation(
            input=statement.sql, byte_position=position, allow_resume=True
        )
        return AnalyzeRequest(
            parse_resume_location=location, options=options, registered_catalog_id=catalog_id
        )

    def _call(self, method: str, request: Any) -> Any:
        """The service's raw protobuf response. The package's own methods also convert it into
        Python objects: for an analysis, the whole resolved tree, half the time of the call, when
        only where the statement ended is needed here."""
        from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2

        response_type = getattr(local_service_pb2, f"{method}Response")
        return self.service.wasm_client.call_grpc_func(
            f"ZetaSqlLocalService_{method}", request.to_proto(), response_type
        )

    def close(self) -> None:
        """Free the WebAssembly instance now, while wasmtime can still do it (left to the
        interpreter's exit, its finalizers fail noisily)."""
        self.service = None  # type: ignore[assignment]
        gc.collect()


def start_analyzer() -> BigQueryAnalyzer:
    """A new ZetaSQL service with wasmtime's code cache on (the package's own client leaves it
    off, so every start would compile the module again)."""
    import wasmtime
    from zetasql.core import wasm_client
    from zetasql.core.local_service import ZetaSqlLocalService

    def cached_config() -> wasmtime.Config:
        config = wasmtime.Config()
        config.cache = True
        return config

    started = time.monotonic()
    with _replaced(wasm_client, "Config", cached_config):
        service = ZetaSqlLocalService()
    return BigQueryAnalyzer(service, time.monotonic() - started)


@pytest.fixture(scope="session")
def zetasql() -> Iterator[BigQueryAnalyzer]:
    """One ZetaSQL analyzer for the whole test session."""
    analyzer = start_analyzer()
    yield analyzer
    analyzer.close()


# -- helpers --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _message(error: Any) -> str:
    """The analyzer's whole message (the package keeps only its first line in `message`)."""
    return re.sub(r"^Code: \d+, Message: ", "", error.raw_error, flags=re.S).strip()


def _remaining(text: bytes, position: int) -> bool:
    """Whether anything but blanks, semicolons and comments follows byte `position`."""
    rest = re.sub(rb"--[^\n]*|#[^\n]*|/\*.*?\*/", b" ", text[position:], flags=re.S)
    return bool(rest.strip(b" \t\r\n;"))


def _script_statements(node: Any) -> Iterator[tuple[str | None, tuple[int, int]]]:
    """(None, byte range) of each SQL statement in a parsed script, and (kind, range) of each
    scripting statement, whose own statements (a block's, a handler's) follow it."""
    from google.protobuf.message import Message

    for descriptor, value in node.ListFields():
        for item in value if descriptor.is_repeated else [value]:
            if not isinstance(item, Message):
                continue
            if item.DESCRIPTOR.name != "AnyASTStatementProto":
                yield from _script_statements(item)
                continue
            concrete = getattr(item, item.WhichOneof(item.DESCRIPTOR.oneofs[0].name))
            if item.HasField("ast_script_statement_node"):
                scripting = getattr(
                    concrete, concrete.WhichOneof(concrete.DESCRIPTOR.oneofs[0].name)
                )
                kind = re.sub(r"^AST|Proto$", "", scripting.DESCRIPTOR.name)
                yield kind, _byte_range(scripting)
                yield from _script_statements(scripting)
            else:
                yield None, _byte_range(concrete)


def _byte_range(node: Any) -> tuple[int, int]:
    """A parse-tree node's location: on the innermost `parent` (its ASTNode base) that has one."""
    while node is not None:
        if "parse_location_range" in node.DESCRIPTOR.fields_by_name and node.HasField(
            "parse_location_range"
        ):
            location = node.parse_location_range
            return location.start, location.end
        node = node.parent if "parent" in node.DESCRIPTOR.fields_by_name else None
    raise ValueError("a parsed statement without a location")


def _near(text: str, message: str, width: int = 90) -> str:
    """The text around the position a one-line message names (`[at 1:245]`)."""
    match = re.search(r"\[at (\d+):(\d+)\]", message)
    if not match:
        return text[:width] + ("..." if len(text) > width else "")
    line, column = int(match.group(1)), int(match.group(2))
    source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else text
    start = max(0, column - 1 - width // 2)
    return ("..." if start else "") + source[start : start + width] + "..."
