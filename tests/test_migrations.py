"""The migrations are the only way the schema is made outside tests: they must equal the models."""
import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from eventsite import _tune_engine_options, create_app
from eventsite.config import TestConfig
from eventsite.extensions import db


def _app_for(url):
    application = create_app(TestConfig)
    application.config["SQLALCHEMY_DATABASE_URI"] = url
    application.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    _tune_engine_options(application)
    return application


def test_migrations_produce_exactly_the_models_schema(fresh_database_url):
    application = _app_for(fresh_database_url("migrations"))
    with application.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], f"models and migrations differ: {differences}"
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables

        # And they can be undone: a downgrade to base leaves only Alembic's own table.
        flask_migrate.downgrade(revision="base")
        remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()
