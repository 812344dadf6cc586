"""Door check-in: the check-in service, the scan log, the check-in screen and the organizer's report."""
