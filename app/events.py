"""Following a bucket by its S3 event notifications (an SQS queue) instead of polling it.

Theory of operation
-------------------
S3 sends an event for every object written or deleted to an SQS queue (a bucket notification, or an
EventBridge rule whose target is the queue; an SNS topic in between is fine too: README, "Following by
events"). :class:`EventQueue` long-polls the queue (``events.wait_seconds``, 20 s: three requests a minute
when idle), turns each message into :class:`BucketEvent` values (:func:`parse_message`, pure), hands each to
the subscriber of that bucket (the replicator for a source, the catalog for a destination), and only then
deletes the message. Subscribers use an event only as a hint of *which* manifest to re-read: the manifest
itself is always read from the bucket, so duplicate, reordered or lost events change nothing but timing.
A lost event is caught by the safety net: while the queue works, subscribers stop polling partition
manifests and instead list the manifest roots every ``events.safety_interval`` (5 minutes), re-reading only
the manifests whose listed ETag changed, a cost independent of the number of partitions.

When the queue cannot be read (wrong URL, permissions, endpoint down) the subscribers are told at once and
go back to adaptive polling (they lose nothing but some S3 requests); the queue is retried with back-off
and following by events resumes when it answers again. Both transitions are logged and exported
(``shadowreplica_events_healthy``).

Messages are deleted after dispatch, also malformed ones (logged and counted: a message that cannot be
parsed now never will be; leaving it would have it redelivered forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from app.config import BucketUrl, EventsSettings, S3Side
from app.errors import ConfigError

log = logging.getLogger(__name__)

_AWS_QUEUE_HOST = re.compile(r"^(?:sqs\.(?P<a>[a-z0-9-]+)|(?P<b>[a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True, slots=True)
class BucketEvent:
    """One object written (``removed=False``) or deleted in ``bucket``; ``key`` is the full object key."""

    bucket: str
    key: str
    removed: bool = False


def parse_message(body: str) -> list[BucketEvent]:
    """The events in one SQS message body (pure).

    Accepts S3 bucket notifications (``{"Records": [{"eventName": ..., "s3": {...}}]}``, keys URL-encoded as S3
    sends them), the same wrapped in an SNS notification (``{"Type": "Notification", "Message": "..."}``), and
    EventBridge "Object Created"/"Object Deleted" events. S3's ``s3:TestEvent`` gives no event. Raises
    :class:`ValueError` for anything else.
    """
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return parse_message(doc["Message"])  # S3 -> SNS -> SQS (fan-out to several instances)
    if doc.get("Event") == "s3:TestEvent":
        return []  # S3 sends one when a notification configuration is saved
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), dict):
        detail = doc["detail"]
        try:
            bucket, key = str(detail["bucket"]["name"]), str(detail["object"]["key"])
        except (KeyError, TypeError):
            raise ValueError("EventBridge S3 event without detail.bucket.name / detail.object.key") from None
        return [BucketEvent(bucket, key, removed="Deleted" in str(doc.get("detail-type", "")))]
    records = doc.get("Records")
    if not isinstance(records, list):
        raise ValueError("neither an S3 notification, an SNS envelope nor an EventBridge event")
    out = []
    for r in records:
        try:
            s3 = r["s3"]
            bucket, key = str(s3["bucket"]["name"]), unquote_plus(str(s3["object"]["key"]))
        except (KeyError, TypeError):
            raise ValueError("S3 notification record without s3.bucket.name / s3.object.key") from None
        out.append(BucketEvent(bucket, key, removed=str(r.get("eventName", "")).startswith("ObjectRemoved")))
    return out


def queue_endpoint(url: str, default_region: str) -> tuple[str | None, str]:
    """(endpoint URL, region) to reach the queue at ``url`` (pure): AWS queue URLs name their region and use
    the default endpoint; any other URL (the embedded server, LocalStack, ElasticMQ) is its own endpoint."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.count("/") < 2:
        raise ConfigError(f"not an SQS queue URL: {url!r} (expected https://sqs.<region>.amazonaws.com/<account>/<name>)")
    m = _AWS_QUEUE_HOST.match(parts.hostname or "")
    if m:
        return None, m.group("a") or m.group("b")
    return f"{parts.scheme}://{parts.netloc}", default_region


Listener = Callable[[BucketEvent], None]
HealthListener = Callable[[bool], None]


@dataclass(slots=True)
class EventStats:
    messages: int = 0
    events: int = 0
    dispatched: int = 0
    malformed: int = 0
    receive_errors: int = 0
    requests: int = 0


@dataclass(slots=True)
class _Subscription:
    bucket: str
    listener: Listener
    on_health: HealthListener


class EventQueue:
    """One SQS queue, long-polled; events fanned out to the subscribers of their bucket (module doc).

    ``side`` gives the credentials (and the region when the URL does not name one): normally the side whose
    bucket sends the events. ``async with EventQueue(...)`` opens the client; :meth:`run` receives forever.
    """

    def __init__(self, url: str, side: S3Side, settings: EventsSettings | None = None) -> None:
        self.url = url
        self.side = side
        self.settings = settings or EventsSettings()
        self.endpoint_url, self.region = queue_endpoint(url, side.region)
        self.stats = EventStats()
        self.healthy = False
        self._subs: list[_Subscription] = []
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._said_down = False

    def subscribe(self, bucket: str, listener: Listener, on_health: HealthListener) -> None:
        """``listener`` gets every event of ``bucket``; ``on_health(True/False)`` when the queue starts or stops
        answering (subscribers poll while it does not)."""
        self._subs.append(_Subscription(bucket, listener, on_health))
        on_health(self.healthy)

    async def __aenter__(self) -> EventQueue:
        from aiobotocore.config import AioConfig

        from app.store import USER_AGENT, http_session_for, loop_session

        session = await loop_session("sqs")
        stack = AsyncExitStack()
        config = AioConfig(region_name=self.region, retries={"mode": "standard", "total_max_attempts": 2},
                           connect_timeout=self.side.connect_timeout,
                           read_timeout=self.settings.wait_seconds + self.side.read_timeout,
                           http_session_cls=http_session_for(self.endpoint_url), user_agent=USER_AGENT)
        self._client = await stack.enter_async_context(session.create_client(
            "sqs", region_name=self.region, endpoint_url=self.endpoint_url,
            aws_access_key_id=self.side.access_key_id, aws_secret_access_key=self.side.secret_access_key,
            aws_session_token=self.side.session_token, config=config))
        self._stack = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def _set_health(self, healthy: bool, why: str = "") -> None:
        """Tell the subscribers when the queue starts or stops answering; say it once per outage (also when
        it never answered at all)."""
        changed, self.healthy = healthy != self.healthy, healthy
        if healthy and changed:
            log.info("following by events from %s", self.url)
            self._said_down = False
        elif not healthy and not self._said_down:
            self._said_down = True
            log.warning("event queue %s unavailable (%s): polling the bucket until it answers again", self.url, why)
        if changed:
            for sub in self._subs:
                sub.on_health(healthy)

    def dispatch(self, body: str) -> int:
        """Hand one message's events to their subscribers; how many were dispatched."""
        self.stats.messages += 1
        try:
            events = parse_message(body)
        except ValueError as e:
            self.stats.malformed += 1
            log.warning("event queue %s: ignoring a message that is not an S3 event (%s): %.200s", self.url, e, body)
            return 0
        n = 0
        for event in events:
            self.stats.events += 1
            for sub in self._subs:
                if sub.bucket == event.bucket:
                    try:
                        sub.listener(event)
                    except Exception:  # a bug in one follower must not stop the others' events
                        log.exception("event for s3://%s/%s not handled", event.bucket, event.key)
                        continue
                    n += 1
        self.stats.dispatched += n
        return n

    async def receive_once(self) -> int:
        """One long poll: receive, dispatch, delete. Returns the number of messages."""
        assert self._client is not None, "use `async with EventQueue(...)`"
        self.stats.requests += 1
        resp = await self._client.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                                  WaitTimeSeconds=self.settings.wait_seconds)
        messages = resp.get("Messages", [])
        for m in messages:
            self.dispatch(m.get("Body", ""))
        if messages:
            self.stats.requests += 1
            await self._client.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        return len(messages)

    async def run(self) -> None:
        """Receive forever; while the queue fails, subscribers poll and the queue is retried with back-off."""
        failures = 0
        while True:
            try:
                await self.receive_once()
                failures = 0
                self._set_health(True)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # botocore/aiohttp errors of every kind: the queue is not usable right now
                failures += 1
                self.stats.receive_errors += 1
                self._set_health(False, f"{type(e).__name__}: {e}")
                delay = random.uniform(0.5, 1.0) * min(self.settings.retry_max, 2.0 ** min(failures, 10))
                await asyncio.sleep(delay)


def add_events_flag(p: Any, *, what: str) -> None:
    """``--events-queue URL`` (also ``[events] queue`` in the config file, ``SHADOWREPLICA_EVENTS_QUEUE``)."""
    p.add_argument("--events-queue", default=None, metavar="URL",
                   help=f"SQS queue receiving {what}'s S3 event notifications: follow by events, not polling")


@contextlib.asynccontextmanager
async def open_events(settings: EventsSettings, side: S3Side) -> AsyncIterator[EventQueue | None]:
    """The queue named by ``settings`` (None when none is), receiving in the background until exit."""
    if not settings.queue:
        yield None
        return
    from app.background import Background

    async with EventQueue(settings.queue, side, settings) as queue:
        task = Background("event-queue")
        task.start(queue.run())
        try:
            yield queue
        finally:
            await task.stop()


def subscribe(queue: EventQueue, url: BucketUrl, on_key: Callable[[str], None],
              set_hinted: Callable[[bool, float, float], None]) -> None:
    """Route ``url``'s events (keys made relative to its prefix; others ignored) to ``on_key``; the queue's
    health to ``set_hinted`` (hinted while it answers: no per-partition polls, a safety-net listing)."""
    def listener(event: BucketEvent) -> None:
        try:
            key = url.relative(event.key)
        except ValueError:
            return  # another prefix of the same bucket
        on_key(key)

    safety, full = queue.settings.safety_interval, queue.settings.full_listing_interval
    queue.subscribe(url.bucket, listener, lambda healthy: set_hinted(healthy, safety, full))
