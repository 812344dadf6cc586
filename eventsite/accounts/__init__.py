"""Organizers, organizations, roles, invitations, API tokens and login."""
