"""In production a Stripe key without its webhook secret is a configuration error: the app refuses to
start (a payment completed after she left the page would never confirm her order)."""
from __future__ import annotations

import pytest

from eventsite.config import ConfigError, TestConfig, from_environment


@pytest.fixture
def production(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTSITE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "prod.db"))
    monkeypatch.setenv("EVENTSITE_BASE_URL", "https://events.example.org")
    monkeypatch.setenv("EVENTSITE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    return tmp_path


def test_a_stripe_key_without_a_webhook_secret_stops_production_with_a_clear_message(production, monkeypatch):
    from eventsite import create_app

    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_example")
    with pytest.raises(ConfigError) as e:
        from_environment(str(production))
    message = str(e.value)
    assert "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not" in message
    assert "/stripe/webhook" in message and "sk_live_example" not in message  # never echo the key
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        create_app(TestConfig)

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")  # empty counts as not set
    with pytest.raises(ConfigError):
        from_environment(str(production))


def test_production_starts_with_both_stripe_settings_or_with_neither(production, monkeypatch):
    settings = from_environment(str(production))  # no key: online payment is off, that is allowed
    assert settings["STRIPE_SECRET_KEY"] is None

    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_example")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_example")
    settings = from_environment(str(production))
    assert (settings["STRIPE_SECRET_KEY"], settings["STRIPE_WEBHOOK_SECRET"]) == ("sk_live_example", "whsec_example")


def test_development_keeps_starting_with_a_key_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTSITE_ENV", "development")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_example")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    assert from_environment(str(tmp_path))["STRIPE_SECRET_KEY"] == "sk_test_example"
