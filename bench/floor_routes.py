"""The two floor routes (issue 7), added only to the app that bench/wsgi_bench.py serves.

- `/_bench/constant`: a bare Flask route returning a constant (what the server, WSGI and Flask cost);
- `/_bench/select1`: the same plus one `SELECT 1` through the app's session and pool.
"""
from flask import Flask
from sqlalchemy import text

from eventsite.extensions import db


def add_floor_routes(application: Flask) -> Flask:
    def bench_constant():
        return "ok"

    def bench_select1():
        return str(db.session.execute(text("SELECT 1")).scalar_one())

    application.add_url_rule("/_bench/constant", "bench_constant", bench_constant)
    application.add_url_rule("/_bench/select1", "bench_select1", bench_select1)
    return application
