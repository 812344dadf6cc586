"""Keep in touch: networking profiles and consent, matching, introductions, and the follow-up plan.

Modules: `models`, `matching` (pure: who should meet whom, and why), `services` (profiles, consent,
introductions, feedback, preferences, settings), `plan` (the worker's follow-up plan), `emails`,
`links` (signed, expiring links), `reports` (the organizer's figures), `forms`, `hooks` (what this
domain adds to the registration form and the ticket page), `views` (public pages; importing it
installs the hooks) and `manage_views` (the organizer's Follow-up tab).

Importing the package registers the worker's two jobs: `connections.send_follow_ups` (plan and queue
each due step) and `connections.lapse_requests` (unanswered requests lapse after 14 days).
"""
from eventsite.connections import plan as _plan
from eventsite.connections import services as _services
from eventsite.core.tasks import register_task

register_task("connections.send_follow_ups", _plan.send_follow_ups)
register_task("connections.lapse_requests", _services.lapse_requests)
