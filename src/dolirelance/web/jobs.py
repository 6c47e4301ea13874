"""Mass follow-ups running in the background while the browser polls their progress."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from dolirelance.errors import DolirelanceError
from dolirelance.service import FollowUpOutcome

log = logging.getLogger(__name__)

KEPT_JOBS = 50


@dataclass
class MassJob:
    """One mass run of one user: how far it is, then what it did."""

    job_id: str
    owner_login: str
    total: int
    outcomes: list[FollowUpOutcome] = field(default_factory=list)
    letters_pdf: Path | None = None
    error: str | None = None
    failure: DolirelanceError | None = None  # what stopped the run, when it is one of ours
    finished: bool = False
    task: asyncio.Task[None] | None = None

    def progress(self, outcome: FollowUpOutcome) -> None:
        self.outcomes.append(outcome)

    def status(self) -> dict[str, object]:
        return {"done": len(self.outcomes), "total": self.total, "finished": self.finished}


@dataclass
class JobBoard:
    """The jobs of this process, newest last; old finished ones are forgotten."""

    _jobs: dict[str, MassJob] = field(default_factory=dict)

    def start(self, owner_login: str, total: int, work: Callable[[MassJob], Awaitable[None]]) -> MassJob:
        self._forget_old()
        job = MassJob(job_id=secrets.token_urlsafe(12), owner_login=owner_login, total=total)
        self._jobs[job.job_id] = job

        async def run() -> None:
            try:
                await work(job)
            except Exception as exc:  # the page must show something, whatever went wrong
                log.exception("mass follow-up job %s failed", job.job_id)
                job.error = getattr(exc, "message", None) or type(exc).__name__
                job.failure = exc if isinstance(exc, DolirelanceError) else None
            finally:
                job.finished = True

        job.task = asyncio.get_running_loop().create_task(run())
        return job

    async def wait_all(self) -> None:
        """Let the running jobs finish (shutdown, tests): a mass run is not cut off halfway."""
        running = [job.task for job in self._jobs.values() if job.task is not None and not job.task.done()]
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def get(self, job_id: str, owner_login: str | None) -> MassJob | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner_login == owner_login else None

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.finished]
        for job_id in finished[: max(len(finished) - KEPT_JOBS, 0)]:
            del self._jobs[job_id]
