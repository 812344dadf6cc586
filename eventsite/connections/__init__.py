"""Keep in touch: networking profiles and consent, matching, introductions, and the follow-up plan.

Modules: `models`, `matching` (pure: who should meet whom, and why), `event_settings` (the plan and
tag list an organizer saves), `cleaning` (what people type), `profiles` (profiles, consent,
preferences, deletion), `introductions` (request, accept, mutual, lapse, feedback), `reminders`
(people she met who are coming again), `plan` (the worker's follow-up plan), `suggestions` (its
planning: who is matched, and the stored suggestions), `emails`, `links` (signed, expiring links),
`reports` (the organizer's figures), `forms`, `hooks` (what this domain adds to the registration
form and the ticket page), `views` (public pages; importing it installs the hooks) and
`manage_views` (the organizer's Follow-up tab).

Importing the package registers the worker's two jobs: `connections.send_follow_ups` (plan and queue
each due step) and `connections.lapse_requests` (unanswered requests lapse after 14 days).
"""
from eventsite.connections import introductions as _introductions
from eventsite.connections import plan as _plan
from eventsite.core.tasks import register_task

register_task("connections.send_follow_ups", _plan.send_follow_ups)
register_task("connections.lapse_requests", _introductions.lapse_requests)
