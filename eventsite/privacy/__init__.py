"""Personal data: her download, the organizer's erasure, the retention purge, and the audit log.

Above every other domain (it reads registration, waitlist and connections data and calls their
services): accounts < events < registration < payments, checkin < connections < privacy.
"""
