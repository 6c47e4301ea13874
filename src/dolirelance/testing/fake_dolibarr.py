"""The fake Dolibarr's former one-module home, kept so that ``from dolirelance.testing.fake_dolibarr import
FakeDolibarr`` goes on working: the fake lives in :mod:`dolirelance.testing.fake`."""

from dolirelance.testing.fake import (
    ALL_RIGHTS,
    REMOVED,
    AgendaEventRecord,
    ApiError,
    ContactRecord,
    FakeDolibarr,
    GroupRecord,
    ProposalRecord,
    RequestLogEntry,
    StoredFile,
    ThirdPartyRecord,
    UserRecord,
    create_app,
)

__all__ = [
    "ALL_RIGHTS",
    "REMOVED",
    "AgendaEventRecord",
    "ApiError",
    "ContactRecord",
    "FakeDolibarr",
    "GroupRecord",
    "ProposalRecord",
    "RequestLogEntry",
    "StoredFile",
    "ThirdPartyRecord",
    "UserRecord",
    "create_app",
]
