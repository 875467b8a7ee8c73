"""Sending one webhook delivery, Standard Webhooks style (https://www.standardwebhooks.com):
the body `{"type", "timestamp", "data"}`, signed by the `standardwebhooks` library into the
`webhook-id` (the delivery's id, the same on every retry), `webhook-timestamp` and
`webhook-signature` headers. A 2xx answer is success; any other answer, a timeout or a
connection error is a failed attempt, retried with backoff until the attempts are spent
(then the delivery is dead). Every attempt is recorded; the HTTP call runs outside any
transaction."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from standardwebhooks import Webhook

from backend.core.config import Settings
from backend.repositories.jobs import ClaimedJob
from backend.repositories.unit_of_work import UnitOfWork
from backend.repositories.webhook_sending import AttemptResult, Outgoing
from backend.services import jobs
from backend.services.use_case import use_case

USER_AGENT = "oddsdesk-webhooks/1"
ERROR_CHARS = 500


def body_of(delivery: Outgoing) -> bytes:
    """The JSON body: the event's type and time, and its payload with its id and entity."""
    data: dict[str, Any] = {
        **delivery.payload,
        "event_id": delivery.event_id,
        "entity_type": delivery.entity_type,
        "entity_id": delivery.entity_id,
    }
    body = {"type": delivery.type, "timestamp": delivery.occurred_at, "data": data}
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def signed_headers(delivery: Outgoing, body: bytes, now: datetime) -> dict[str, str]:
    signature = Webhook(delivery.secret).sign(delivery.id, now, body.decode())
    return {
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def private_address(url: str) -> str | None:
    """The first address of the URL's host that is not public (loopback, private,
    link-local, reserved...), or None."""
    host = httpx.URL(url).host
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None  # the request itself will fail and say why
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def post(client: httpx.Client, delivery: Outgoing, *, private_ok: bool = True) -> AttemptResult:
    body = body_of(delivery)
    headers = signed_headers(delivery, body, datetime.now(UTC))
    started = time.monotonic()
    code: int | None = None
    error: str | None = None
    try:
        refused = None if private_ok else private_address(delivery.url)
        if refused is not None:
            error = f"refused: the host resolves to a non-public address ({refused})"
            return AttemptResult(None, error, round((time.monotonic() - started) * 1000))
        response = client.post(delivery.url, content=body, headers=headers)
        code = response.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS] or type(exc).__name__
    return AttemptResult(code, error, round((time.monotonic() - started) * 1000))


@dataclass(frozen=True)
class Deliverer:
    """Runs `webhook.deliver` jobs with one HTTP client (its connection pool) per worker."""

    settings: Settings
    client: httpx.Client

    @classmethod
    def build(cls, settings: Settings) -> Deliverer:
        client = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)
        return cls(settings, client)

    def close(self) -> None:
        self.client.close()

    def __call__(self, uow: UnitOfWork, job: ClaimedJob) -> None:
        delivery_id = str(job.payload["delivery_id"])
        delivery = _load(uow, delivery_id)
        if delivery is None or delivery.status == "succeeded":
            jobs.done(uow, job)  # its endpoint was deleted, or it was delivered already
            return
        if delivery.endpoint_status != "active":
            _give_up(uow, job, delivery_id, "endpoint disabled")
            return
        private_ok = self.settings.webhooks_may_reach_private_addresses
        result = post(self.client, delivery, private_ok=private_ok)
        _record(uow, job, delivery_id, result, self.settings)

    def abandon(self, uow: UnitOfWork, job: ClaimedJob, error: str) -> None:
        """Its job died of an error before any outcome was recorded: the delivery is dead
        too (dead-lettered, `redeliver` sends it again), never left pending."""
        _abandon(uow, str(job.payload["delivery_id"]), error[:ERROR_CHARS])


@use_case
def _abandon(uow: UnitOfWork, delivery_id: str, error: str) -> None:
    uow.webhook_sending.give_up(delivery_id, error)
    uow.commit()


@use_case
def _load(uow: UnitOfWork, delivery_id: str) -> Outgoing | None:
    return uow.webhook_sending.load(delivery_id)


@use_case
def _give_up(uow: UnitOfWork, job: ClaimedJob, delivery_id: str, error: str) -> None:
    uow.webhook_sending.give_up(delivery_id, error)
    uow.jobs.done(job)
    uow.commit()


@use_case
def _record(
    uow: UnitOfWork, job: ClaimedJob, delivery_id: str, result: AttemptResult, settings: Settings
) -> None:
    """The attempt and what follows from it, with the job's own end, in one transaction; a
    worker that lost its lease (another one took the job over) records nothing."""
    base, cap = settings.webhook_retry_base_s, settings.webhook_retry_max_s
    if result.succeeded:
        status, delay, finished = "succeeded", 0.0, uow.jobs.done(job)
    elif job.last_attempt:
        status, delay, finished = "dead", 0.0, uow.jobs.dead(job, result.error or "failed")
    else:
        delay = jobs.backoff_delay(job.attempts, base, cap)
        status, finished = "failed", uow.jobs.retry(job, delay, result.error or "failed")
    if not finished:
        uow.rollback()
        return
    uow.webhook_sending.record(
        delivery_id,
        result,
        status=status,
        delay_s=delay,
        disable_after=settings.webhook_disable_after_failures,
    )
    uow.commit()
