"""Public pages: upcoming events, event page, calendar file. (Stub: being built.)"""
from flask import Blueprint

bp = Blueprint("events", __name__, template_folder="templates")


@bp.get("/")
def index():
    return "events"
