"""FastAPI dependencies of the datasets service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi import Request

from services.datasets.references import ReferenceChecker
from services.datasets.service import DatasetService
from services.datasets.service import RecordService
from services.kernel.session import Session


def get_references(request: Request) -> ReferenceChecker:
    return ReferenceChecker(request.app.state.peers)


References = Annotated[ReferenceChecker, Depends(get_references)]


def get_dataset_service(session: Session, references: References) -> DatasetService:
    return DatasetService(session, references)


def get_record_service(session: Session, references: References) -> RecordService:
    return RecordService(session, references)


DatasetServiceDep = Annotated[DatasetService, Depends(get_dataset_service)]
RecordServiceDep = Annotated[RecordService, Depends(get_record_service)]
