"""Health check."""
from flask import Blueprint, jsonify
from sqlalchemy import text

from eventsite.extensions import db

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        db.session.rollback()
        database = "unavailable"
    status = "ok" if database == "ok" else "error"
    return jsonify({"status": status, "database": database}), (200 if status == "ok" else 503)
