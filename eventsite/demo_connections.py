"""The keep-in-touch part of the demo data (`eventsite.demo`): the events' plans and tag lists, and
the networking profiles of the past event's attendees.

Everything goes through the connections services, like a real organizer and real attendees; the
functions flush, `seed_demo`'s caller commits once. A second seed changes nothing: settings are saved
only for an event that has none, and profiles are made only together with those new settings.
"""
from __future__ import annotations

from sqlalchemy import select

from eventsite.events.models import Event
from eventsite.extensions import db

# The past event's networking profiles, by attendee email: (company, one-line intro, offers, what she
# can offer in her words, asks, what she is looking for in her words, website, consent). Offers and
# asks overlap on purpose, so the day-after suggestions have good reasons. Not everyone has one.
DEMO_PROFILES: dict[str, tuple[str, str, tuple[str, ...], str, tuple[str, ...], str, str, bool]] = {
    "amara.okafor@example.org": (
        "Harbourline Logistics", "Finance director at a logistics firm, preparing for a first non-executive role.",
        ("Finance", "Negotiation"), "Happy to walk anyone through reading a set of accounts.",
        ("Board governance", "Non-executive roles"), "How a first board interview really goes.", "", True),
    "beatriz.santos@example.org": (
        "Southbank Housing Trust", "Chair of a housing charity's board for six years.",
        ("Board governance", "Charity trusteeship", "Mentoring"), "I can review a board CV or a trustee application.",
        ("Fundraising", "Public speaking"), "Confidence when pitching to large donors.",
        "https://example.org/beatriz-santos", True),
    "chloe.martin@example.org": (
        "Atelier Martin", "Founder of a small design studio.", ("Product management",), "",
        ("Hiring",), "", "", False),
    "deepa.raman@example.org": (
        "Raman & Co", "Chartered accountant and audit committee member of a school trust.",
        ("Finance", "Board governance"), "Audit committees demystified, over coffee.",
        ("Public speaking", "Leadership"), "Speaking up in a room of senior people.", "", True),
    "eilidh.macleod@example.org": (
        "Highland Arts Foundation", "Fundraising lead at a Scottish arts charity.",
        ("Fundraising", "Public speaking"), "Twelve years of donor pitches, good and bad.",
        ("Charity trusteeship", "Board governance"), "Which trusteeships suit someone with a fundraising background.",
        "", True),
    "fatima.haddad@example.org": (
        "Brightwater Retail", "HR director who hires senior leaders.", ("Hiring", "Negotiation"),
        "What the other side of a pay negotiation looks like.", ("Non-executive roles",), "", "", True),
    "grace.liu@example.org": (
        "Ledgerly", "Head of product at a fintech, moving towards strategy roles.",
        ("Product management", "Hiring"), "Building and hiring for product teams.",
        ("Career change", "Non-executive roles"), "Stories of people who moved from product into the boardroom.",
        "https://example.org/grace-liu", True),
    "hannah.becker@example.org": (
        "Northwind Systems", "Engineering manager, back after parental leave.", ("Leadership", "Hiring"),
        "Leading engineering teams through reorganisations.", ("Negotiation", "Mentoring"),
        "Negotiating my scope and pay after coming back.", "", True),
    "ifeoma.nwosu@example.org": (
        "Nwosu Advisory", "Sits on two advisory boards for health start-ups.",
        ("Non-executive roles", "Mentoring", "Board governance"), "How an advisory board differs from a real one.",
        ("Fundraising", "Finance"), "Understanding investor reporting better.", "", True),
    "jessica.turner@example.org": (
        "Open Doors Learning", "Former teacher, now in learning and development.",
        ("Public speaking", "Mentoring"), "Presenting to any audience without notes.",
        ("Career change", "Hiring"), "How to be hired into a first corporate role.", "", True),
    "kavya.iyer@example.org": (
        "Tessellate", "CTO of a 40-person software company.", ("Product management", "Leadership", "Hiring"),
        "Technology strategy in plain words for a board.", ("Board governance", "Negotiation"),
        "How boards value a technology background.", "", True),
    "laura.kowalski@example.org": (
        "Kestrel Engineering", "Procurement lead in engineering.", ("Negotiation",),
        "Supplier negotiations, the tough ones.", ("Mentoring",), "A mentor a few steps ahead.", "", True),
    "mei.tanaka@example.org": (
        "City Museum Trust", "Operations manager at a museum, new to governance.", ("Leadership",),
        "Running operations on a tight budget.", ("Board governance", "Charity trusteeship"),
        "The basics of governance, explained kindly.", "", True),
    "nadia.rahman@example.org": (
        "Rahman Legal", "Employment solicitor.", ("Negotiation",), "", ("Non-executive roles",), "", "", False),
    "olivia.brennan@example.org": (
        "Brennan Search", "Executive search consultant for board appointments.",
        ("Non-executive roles", "Career change", "Hiring"), "How search firms find and shortlist first-time directors.",
        ("Public speaking",), "Speaking at events like this one.", "https://example.org/brennan-search", True),
    "priya.shah@example.org": (
        "Greenfield Impact Capital", "Investment director at an impact fund.",
        ("Fundraising", "Finance", "Negotiation"), "What investors look for, from the inside.",
        ("Leadership", "Mentoring"), "Growing into leading a team of twelve.", "", True),
    "sofia.rossi@example.org": (
        "Ledgerly", "Marketing director, three months into a first trustee role.",
        ("Public speaking", "Charity trusteeship"), "What the first months as a trustee are like.",
        ("Negotiation", "Leadership"), "Negotiating time for a board role with my employer.", "", True),
    "tamsin.hughes@example.org": (
        "Westcountry Building Society", "Newly appointed non-executive director at a building society.",
        ("Board governance", "Non-executive roles", "Career change"), "How I found my first seat, step by step.",
        ("Product management",), "Asking better questions about digital products.", "", True),
    "uzma.qureshi@example.org": (
        "NED Women Network", "Runs a network for women non-executives.", ("Mentoring", "Non-executive roles"),
        "Introductions to NED networks and their events.", ("Fundraising", "Hiring"),
        "Sponsors and a first hire for the network.", "https://example.org/ned-women", True),
    "wen.zhao@example.org": (
        "Harbourline Logistics", "Product manager practising her board pitch.", ("Product management",),
        "Product thinking for any organisation.", ("Public speaking", "Non-executive roles", "Mentoring"),
        "Feedback on my two-minute board pitch.", "", True),
}


def add_demo_connection_settings(event: Event, tags: tuple[str, ...]) -> bool:
    """Save the event's keep-in-touch plan (the default steps: the day after, a month, three months)
    with its tag list, through the connections service. False when the event has settings already
    (the organizer's changes are never overwritten)."""
    from eventsite.connections.event_settings import update_settings
    from eventsite.connections.models import STEPS, ConnectionSettings

    if db.session.get(ConnectionSettings, event.id) is not None:
        return False
    defaults = ConnectionSettings.defaults_for(event)
    update_settings(
        event, enabled=True, audience="checked_in", tags="\n".join(tags), send_hour=defaults.send_hour,
        steps={step.value: (defaults.step_on(step), defaults.step_days(step)) for step in STEPS},
    )
    return True


def add_demo_profiles(event: Event) -> int:
    """Give the demo attendees of `event` their networking profiles (DEMO_PROFILES), saved through the
    connections service as if each filled it in when she registered. Only attendees without a profile
    get one; `seed_demo` calls this once, together with the event's new settings, so a profile an
    attendee deleted stays deleted. Returns how many were made."""
    from eventsite.connections.profiles import profile_for_order, save_profile
    from eventsite.registration.models import Order

    orders = db.session.scalars(select(Order).where(Order.event_id == event.id,
                                                    Order.buyer_email.in_(list(DEMO_PROFILES)))
                                .order_by(Order.id)).all()
    made = 0
    for order in orders:
        if not order.is_live or profile_for_order(order) is not None:
            continue
        company, intro, offers, offers_text, asks, asks_text, website, consent = DEMO_PROFILES[order.buyer_email]
        save_profile(order, {
            "intro": intro, "company": company, "offers": list(offers), "offers_text": offers_text,
            "asks": list(asks), "asks_text": asks_text, "website_url": website, "consent": consent,
        }, now=order.created_at)
        made += 1
    return made
