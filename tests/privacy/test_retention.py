"""Networking profiles are purged EVENTSITE_PROFILE_RETENTION_DAYS after their event, by the worker."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from eventsite.config import ConfigError, from_environment
from eventsite.core.tasks import registered_tasks, run_due_tasks
from eventsite.events.models import Event
from eventsite.extensions import db
from eventsite.privacy.services import purge_expired_profiles
from tests.privacy.conftest import everything_mentions, raw


def _ends(slug):
    return db.session.scalar(db.select(Event.ends_at).where(Event.slug == slug))


def test_profiles_stay_until_the_retention_time_then_are_deleted(app, ctx, scene):
    ends = _ends(scene.slug)
    assert app.config["PROFILE_RETENTION_DAYS"] == 365
    assert purge_expired_profiles(ends + timedelta(days=364)) == 0
    db.session.commit()
    assert raw("SELECT count(*) FROM networking_profiles") == [(3,)]

    assert purge_expired_profiles(ends + timedelta(days=366)) == 3
    db.session.commit()
    assert raw("SELECT count(*) FROM networking_profiles") == [(3 - 3,)]
    assert everything_mentions("says hello") == []  # gone from the database, not hidden
    assert raw("SELECT count(*) FROM orders") == [(3,)]  # registrations are not profiles: kept
    [(action, details)] = raw("SELECT action, details FROM audit_log")
    details = details if isinstance(details, dict) else json.loads(details)  # JSON: dict on PostgreSQL
    assert action == "profiles.purged" and details == {"profiles": 3, "retention_days": 365}


def test_zero_days_turns_the_purge_off(ctx, scene):
    assert purge_expired_profiles(_ends(scene.slug) + timedelta(days=5000), days=0) == 0
    assert raw("SELECT count(*) FROM networking_profiles") == [(3,)]


def test_the_worker_runs_it(ctx, scene):
    assert "privacy.purge_expired_profiles" in registered_tasks()
    report = run_due_tasks(_ends(scene.slug) + timedelta(days=400))
    assert "privacy.purge_expired_profiles" not in report.errors
    assert report.results["privacy.purge_expired_profiles"] == 3
    assert raw("SELECT count(*) FROM networking_profiles") == [(0,)]


def test_setting_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTSITE_PROFILE_RETENTION_DAYS", "30")
    assert from_environment(str(tmp_path))["PROFILE_RETENTION_DAYS"] == 30
    monkeypatch.setenv("EVENTSITE_PROFILE_RETENTION_DAYS", "a year")
    with pytest.raises(ConfigError, match="EVENTSITE_PROFILE_RETENTION_DAYS"):
        from_environment(str(tmp_path))
    monkeypatch.delenv("EVENTSITE_PROFILE_RETENTION_DAYS")
    assert from_environment(str(tmp_path))["PROFILE_RETENTION_DAYS"] == 365
