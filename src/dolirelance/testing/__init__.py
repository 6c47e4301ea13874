"""Test helpers shipped with the package: a fake Dolibarr (20.0.0, 22.0.4 or 23.0.0-beta) and French sample data."""

from dolirelance.testing.cost import CostModel
from dolirelance.testing.fake import (
    ALL_RIGHTS,
    AgendaEventRecord,
    ContactRecord,
    FakeDolibarr,
    ProposalRecord,
    RequestLogEntry,
    StoredFile,
    ThirdPartyRecord,
    UserRecord,
    create_app,
)
from dolirelance.testing.fake_versions import FAKE_VERSIONS
from dolirelance.testing.pdf import render_proposal_pdf
from dolirelance.testing.sample_data import SampleData, load_sample_data
from dolirelance.testing.server import serve_in_thread
from dolirelance.testing.sqlfilters import (
    ColumnKind,
    SqlFilterError,
    SqlFilterSqlError,
    SqlFilterSyntaxError,
    compile_filter,
    parse_filter,
)

__all__ = [
    "ALL_RIGHTS",
    "FAKE_VERSIONS",
    "AgendaEventRecord",
    "ColumnKind",
    "ContactRecord",
    "CostModel",
    "FakeDolibarr",
    "ProposalRecord",
    "RequestLogEntry",
    "SampleData",
    "SqlFilterError",
    "SqlFilterSqlError",
    "SqlFilterSyntaxError",
    "StoredFile",
    "ThirdPartyRecord",
    "UserRecord",
    "compile_filter",
    "create_app",
    "load_sample_data",
    "parse_filter",
    "render_proposal_pdf",
    "serve_in_thread",
]
