"""Organizer API for events and ticket types. (Stub: being built.)"""
