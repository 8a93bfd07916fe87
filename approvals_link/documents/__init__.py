"""Electronic documents of projects: a content-addressed store, type detection from the
bytes, the service that files an upload, and the REST views (issue 5)."""
