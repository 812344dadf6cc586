"""One app instance in a process of its own, as a gunicorn worker would be: it makes login attempts
from one client address and prints their status codes as JSON.

    python -m tests.security.limiter_probe '<settings as JSON>' ATTEMPTS

Flask-Limiter keeps its storage on one module-level object, so two apps in one process would share
it whatever the configuration: only separate processes show whether the counters really are shared.
"""
from __future__ import annotations

import json
import re
import sys


def main() -> None:
    from eventsite import create_app

    settings, attempts = json.loads(sys.argv[1]), int(sys.argv[2])
    app = create_app(settings)
    client = app.test_client()
    env = {"REMOTE_ADDR": "203.0.113.77"}
    statuses = []
    for i in range(attempts):
        page = client.get("/organizer/login", environ_base=env).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        response = client.post("/organizer/login", environ_base=env,
                               data={"csrf_token": token, "email": f"probe{i}@example.org", "password": "wrong guess"})
        statuses.append(response.status_code)
    print(json.dumps(statuses))


if __name__ == "__main__":
    main()
