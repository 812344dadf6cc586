"""The dev mailbox at /dev/mailbox (development only). (Stub: being built.)"""
from flask import Blueprint

bp = Blueprint("mailbox", __name__, url_prefix="/dev/mailbox")


@bp.get("/")
def index():
    return "mailbox"
