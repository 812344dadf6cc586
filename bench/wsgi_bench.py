"""What gunicorn serves in the benchmarks: the production app plus two floor routes.

    gunicorn bench.wsgi_bench:app

The floors (issue 7) are measured under the same gunicorn settings as the scenarios:
- `/_bench/constant`: a bare Flask route returning a constant (what the server, WSGI and Flask cost);
- `/_bench/select1`: the same plus one `SELECT 1` through the app's session and pool.
They go through the app's own request handling (before/after-request hooks, security headers), so a
scenario's figure divided by its floor is what eventsite's own work costs. These routes exist only
here: `wsgi.py`, the production entry point, never has them.
"""
from sqlalchemy import text

from eventsite import create_app
from eventsite.extensions import db

app = create_app()


@app.get("/_bench/constant")
def bench_constant():
    return "ok"


@app.get("/_bench/select1")
def bench_select1():
    return str(db.session.execute(text("SELECT 1")).scalar_one())

