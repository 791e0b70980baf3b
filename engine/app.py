"""The engine assembled: one object holding every context's use cases over shared adapters.

The composition root (``web.bootstrap``) builds the adapters once — store, catalog, clock,
channels, places, and later the alarm clock — and hands them here; web, the CLI and the
workers then call ``crisis.<context>.<use case>``. Nothing is built at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from engine.accounts.usecases import Accounts
from engine.audience import subscriptions
from engine.audience.usecases import Audience
from engine.calendar import connector_jobs, external, freezes
from engine.calendar.platforms import Platforms
from engine.calendar.posts import next_post_due
from engine.calendar.usecases import Calendar
from engine.delivery import outbox
from engine.delivery.usecases import Delivery
from engine.incidents.audit import Audit
from engine.incidents.commands import Incidents
from engine.kernel.ports import Alarm, Clock, MarketingPlatform, SystemClock
from engine.kernel.uow import Work
from engine.monitoring.usecases import Monitoring
from engine.operations.usecases import Operations
from engine.paging import effects, ladder
from engine.paging.usecases import Roster
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.playbooks.connectors import Connector
from engine.playbooks.places import Places
from engine.public.usecases import PublicPage
from engine.store import Store
from engine.timers import schedule
from engine.timers.schedule import Handler
from engine.updates import cards, expiry, publishing, threads
from engine.updates.usecases import Updates


class Crisis:
    """The contexts: incidents, audit, monitoring, calendar (and its platforms), updates,
    audience, public, roster, delivery, accounts, operations."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        clock: Clock | None = None,
        channels: Mapping[str, Channel] | None = None,
        alarm: Alarm | None = None,
        places: Places | None = None,
        connectors: Mapping[str, Connector] | None = None,
        platforms: Mapping[str, MarketingPlatform] | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.places = places or Places()
        self.clock = clock or SystemClock()
        self.channels = dict(channels or {})
        self.alarm = alarm
        self.connectors = dict(connectors or {})
        self.marketing = dict(platforms or {})  # the connectors' adapters, by connector name
        work = Work(store, self.clock)
        work.wake = self._rearm
        self.work = work
        self.incidents = Incidents(
            work,
            catalog=catalog,
            places=self.places,
            channels=self.channels,
            connectors=self.connectors,
        )
        self.audit = Audit(work)
        self.monitoring = Monitoring(
            work,
            catalog=catalog,
            places=self.places,
            channels=self.channels,
            incidents=self.incidents,
        )
        self.calendar = Calendar(
            work, channels=self.channels, places=self.places, connectors=self.connectors
        )
        self.platforms = Platforms(
            work, connectors=self.connectors, platforms=self.marketing, places=self.places
        )
        self.updates = Updates(work, catalog=catalog, channels=self.channels, places=self.places)
        self.audience = Audience(
            work,
            places=self.places,
            channels=self.channels,
            audiences=lambda: {a for pb in catalog.all() for a in pb.audiences},
        )
        self.public = PublicPage(work, catalog=catalog)
        self.roster = Roster(work)
        self.delivery = Delivery(work)
        self.accounts = Accounts(work)
        self.operations = Operations(work)
        # What the outbox asks the contexts whose records its messages stand for.
        jobs = connector_jobs.Results(
            self.connectors, connector_jobs.alerting(catalog.pinned, self.channels)
        )
        self.owners = outbox.Owners(
            moot={
                "page": (ladder.moot_pages, "incident acknowledged"),
                "post": (freezes.frozen_posts, "held by a freeze"),
                external.KIND: (jobs.moot, "nothing left to do (freeze lifted or item decided)"),
            },
            failed={
                "post": freezes.post_failed,
                external.KIND: jobs.failed,
                cards.KIND: cards.failed,
            },
            sent={external.KIND: jobs.sent, "update": threads.sent, cards.KIND: cards.sent},
            retrying={external.KIND: jobs.retrying},
            context={"update": threads.context, cards.KIND: cards.context},
            context_media={"update": frozenset(threads.THREADED)},
            sent_media={"update": frozenset(threads.THREADED)},
            opt_out=subscriptions.opt_out,
            address_of=subscriptions.address_of,
        )

    def timer_handlers(self) -> dict[str, Handler]:
        """The effects of every timer kind, for the alarm clock."""
        pinned = self.catalog.pinned
        return (
            effects.make_handlers(pinned, self.channels)
            | expiry.make_handlers(pinned, self.channels)
            | publishing.make_handlers(pinned, self.channels)
        )

    def _rearm(self, noted: datetime | None = None) -> None:
        """Wake the alarm clock for whatever timer or post the last transaction scheduled:
        the earliest it noted (``uow.note_due``), or else whatever the database says is due
        next."""
        if self.alarm is None:
            return
        if noted is not None:
            self.alarm.rearm(noted)
            return
        due = [schedule.next_due(self.store), next_post_due(self.store)]
        upcoming = min((d for d in due if d is not None), default=None)
        if upcoming is not None:
            self.alarm.rearm(upcoming)
