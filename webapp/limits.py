"""Per-client rate limit (flask-limiter); the limit comes from the settings."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)
