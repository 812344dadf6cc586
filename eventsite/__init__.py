"""eventsite: registration, door check-in and post-event introductions."""
from __future__ import annotations

import os

from flask import Flask


def create_app(config: object | dict | None = None) -> Flask:
    """Application factory: configuration, extensions, blueprints, CLI. No logic."""
    app = Flask(__name__, instance_relative_config=False, instance_path=os.environ.get("EVENTSITE_INSTANCE_PATH") or None)
    os.makedirs(app.instance_path, exist_ok=True)

    from eventsite.config import Config, from_environment

    app.config.from_object(Config)
    app.config.update(from_environment(app.instance_path))
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    _tune_engine_options(app)
    if app.config["EVENTSITE_TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["EVENTSITE_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # real client address for rate limits

    from eventsite.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    _import_models()
    _register_blueprints(app)

    from eventsite.core import logs, security, web

    security.init_app(app)
    web.init_app(app)
    logs.init_app(app)  # request ids, one log line per request, JSON logs in production

    from eventsite import cli

    cli.init_app(app)
    return app


def _tune_engine_options(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("hide_parameters", True)  # SQL logs and errors never show values (tokens, hashes)
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        options.setdefault("pool_size", 10)
        options.setdefault("max_overflow", 20)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _import_models() -> None:
    """Every model module, so the metadata is complete for migrations and create_all()."""
    import eventsite.accounts.models  # noqa: F401
    import eventsite.checkin.models  # noqa: F401
    import eventsite.connections.models  # noqa: F401  (and the package's worker jobs)
    import eventsite.core.mail.models  # noqa: F401
    import eventsite.events.models  # noqa: F401
    import eventsite.payments.models  # noqa: F401
    import eventsite.privacy.models  # noqa: F401  (the audit log)
    import eventsite.registration.models  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    import eventsite.accounts.api_auth  # noqa: F401  (Bearer tokens for the API)
    import eventsite.checkin.api  # noqa: F401  (POST /api/v1/events/<slug>/checkins)
    import eventsite.events.api  # noqa: F401  (adds its routes to the API blueprint)
    import eventsite.registration.api  # noqa: F401  (tickets and orders)
    from eventsite.accounts.views import bp as accounts_bp
    from eventsite.checkin.manage_views import bp as checkin_bp
    from eventsite.connections.manage_views import bp as manage_connections_bp
    from eventsite.connections.views import bp as connections_bp
    from eventsite.core.api import bp as api_bp
    from eventsite.core.mail.views import bp as mailbox_bp
    from eventsite.core.views import bp as core_bp
    from eventsite.events.manage_views import bp as manage_events_bp
    from eventsite.events.views import bp as events_bp
    from eventsite.payments.manage_views import bp as manage_payments_bp
    from eventsite.payments.views import bp as payments_bp
    from eventsite.payments.views import dev_bp as payments_dev_bp
    from eventsite.privacy.views import bp as privacy_bp
    from eventsite.registration.manage_views import bp as manage_registration_bp
    from eventsite.registration.views import bp as registration_bp
    from eventsite.registration.waitlist_views import bp as waitlist_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(events_bp)
    app.register_blueprint(waitlist_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(manage_events_bp)
    app.register_blueprint(checkin_bp)
    app.register_blueprint(manage_registration_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(manage_payments_bp)
    app.register_blueprint(connections_bp)
    app.register_blueprint(manage_connections_bp)
    app.register_blueprint(privacy_bp)  # her data download, the organizer's erasure, the retention purge
    if app.config["EVENTSITE_ENV"] != "production":
        app.register_blueprint(mailbox_bp)
        app.register_blueprint(payments_dev_bp)  # the test payment page; also 404 once a Stripe key is set
