"""Organizer pages for events, ticket types and questions. (Stub: being built.)"""
from flask import Blueprint

bp = Blueprint("manage_events", __name__, url_prefix="/organizer", template_folder="templates")


@bp.get("/")
def dashboard():
    return "dashboard"
