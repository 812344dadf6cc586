"""What gunicorn serves in the benchmarks: the production app plus the two floor routes.

    gunicorn bench.wsgi_bench:app

The floors (bench/floor_routes.py) are measured under the same gunicorn settings as the scenarios
and go through the app's own request handling (before/after-request hooks, security headers), so a
scenario's figure divided by its floor is what eventsite's own work costs. The routes exist only
here: `wsgi.py`, the production entry point, never has them.
"""
from bench.floor_routes import add_floor_routes
from eventsite import create_app

app = add_floor_routes(create_app())
