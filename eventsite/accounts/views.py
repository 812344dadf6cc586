"""Organizer login, logout, settings, members and invitations. (Stub: being built.)"""
from flask import Blueprint, redirect, url_for

from eventsite.accounts.models import User
from eventsite.extensions import db, login_manager

bp = Blueprint("accounts", __name__, url_prefix="/organizer", template_folder="templates")


@login_manager.user_loader
def _load_user(user_id: str):
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    return "login"


@bp.post("/logout")
def logout():
    return redirect(url_for("events.index"))


@bp.get("/settings")
def settings():
    return "settings"
