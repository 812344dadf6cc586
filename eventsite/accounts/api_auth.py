"""Plugs API token authentication into the API blueprint."""
from eventsite.accounts.services import user_for_api_token
from eventsite.core import api

api.set_authenticator(user_for_api_token)
