"""Tick the clock in this process: the embedded default's stand-in for Celery beat."""

import datetime
import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from leads.cadences.engine import cadences_finish
from leads.cadences.outbound import due_touches_dispatch, interrupted_sends_reconcile
from leads.fastlane import unprocessed_leads_process
from leads.feedback.exports import feedback_daily_files_request
from leads.feedback.rollups import rollups_refresh, rollups_refresh_nightly
from leads.feedback.webhooks import feedback_deliveries_dispatch
from leads.voice.bridge import bridge_touches_dispatch, stale_bridges_settle
from leads.workspace.alerts import due_callbacks_alert
from leads.workspace.queue import stale_windows_refresh
from leads.workspace.routing import pool_leads_route
from leads.workspace.sla import sla_escalate

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Queue due texts and emails every few seconds, and process leads the fast lane "
        "missed, as Celery beat does in production. Use it when Leadline runs without "
        "Redis (tasks run in this process)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=settings.CLOCK_TICK_SECONDS,
            help="Seconds between ticks (default: CLOCK_TICK_SECONDS).",
        )
        parser.add_argument("--once", action="store_true", help="Tick once and exit.")

    def handle(self, *args, every, once, **options):
        # The slower rounds (as Celery beat's longer intervals): when each last ran.
        last_rollups = last_daily_files = float("-inf")
        nightly_done_for = None
        while True:
            queued = due_touches_dispatch(seconds=every * 0.8)
            if queued:
                self.stdout.write(f"Queued {queued} due touch(es).")
            try:
                settled = interrupted_sends_reconcile()
            except Exception:
                logger.exception("Reconciling interrupted sends failed")
            else:
                if settled:
                    self.stdout.write(f"Settled {settled} interrupted send(s).")
            try:
                swept = unprocessed_leads_process()
            except Exception:  # the database away must not stop the clock
                logger.exception("The sweep for leads that missed the fast lane failed")
            else:
                if swept:
                    self.stdout.write(f"Processed {swept} lead(s) that missed the fast lane.")
            try:
                stale_windows_refresh()
                routed = pool_leads_route()
            except Exception:
                logger.exception("Routing the pool's waiting leads failed")
            else:
                if routed:
                    self.stdout.write(f"Gave {routed} waiting lead(s) to reps.")
            try:
                escalated = sla_escalate()
            except Exception:
                logger.exception("The speed-to-lead escalations failed")
            else:
                if escalated:
                    self.stdout.write(f"Escalated {escalated} lead(s) not called in time.")
            try:
                rung = due_callbacks_alert()
            except Exception:
                logger.exception("Alerting reps of due callbacks failed")
            else:
                if rung:
                    self.stdout.write(f"Told reps of {rung} callback(s) now due.")
            try:
                bridged = bridge_touches_dispatch() + stale_bridges_settle()
            except Exception:
                logger.exception("Handing out due lead-to-call bridges failed")
            else:
                if bridged:
                    self.stdout.write(f"Handled {bridged} due lead-to-call bridge(s).")
            try:
                cadences_finish()
            except Exception:
                logger.exception("Finishing cadences failed")
            now = time.monotonic()
            try:
                if now - last_rollups >= settings.ROLLUP_REFRESH_SECONDS:
                    last_rollups = now
                    rollups_refresh()
                today = datetime.datetime.now(datetime.UTC).date()
                if nightly_done_for != today:
                    nightly_done_for = today
                    rollups_refresh_nightly()
                if now - last_daily_files >= 3600:
                    last_daily_files = now
                    if files := feedback_daily_files_request():
                        self.stdout.write(f"Queued {files} daily feedback file(s).")
            except Exception:
                logger.exception("Refreshing the dashboard's figures or the feedback files failed")
            try:
                posted = feedback_deliveries_dispatch()
            except Exception:
                logger.exception("Posting the due feedback webhooks failed")
            else:
                if posted:
                    self.stdout.write(f"Posted {posted} feedback event(s) to sources.")
            if once:
                return
            time.sleep(every)
