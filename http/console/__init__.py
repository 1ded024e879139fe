"""The admin console under /admin/: server-rendered pages for people, signed in with a password."""
