"""The cast of the tests: the fixed names and the one password of the users that the
fixtures in tests/conftest.py make, for tests that type them into a sign-in form."""

ADMIN = "admin"  # admin_user (and pytest-django's admin_client): a superuser
VIEWER = "viewer"  # viewer, viewer_client: the viewer role
MEMBER = "member"  # member: a household member with alert settings of their own
OPERATOR = "operator"  # operator: the admin role, not a superuser
PASSWORD = "cast-password-123"
