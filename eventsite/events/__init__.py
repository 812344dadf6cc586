"""Events, ticket types and registration questions; public pages and the organizer editor."""
