"""eventsite's benchmarks: one harness, scenarios side by side with their floors.

    .venv/bin/python -m bench                      # every scenario, 3 runs each, writes bench/RESULTS.md
    .venv/bin/python -m bench --help

See bench/README.md. The pieces:

- `harness.py`   a fresh PostgreSQL database, a local SMTP sink, gunicorn on a free loopback port, and
                 the clean-up of all of it (also on an error or Ctrl-C);
- `loadgen.py`   the load generator, run as a separate process: N client threads, each with its own
                 keep-alive connection and cookie jar, timing every request;
- `seed.py`      the data a scenario needs, written through the app's own services;
- `wsgi_bench.py` the app as gunicorn serves it here, plus the two floor routes (never in production);
- `scenarios/`   one module per scenario (floors, registration_rush, checkin): seed, client, checks;
- `report.py`    medians of the runs, targets, bench/RESULTS.md.
"""
