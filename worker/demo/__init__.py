"""``sipline demo``: a scripted tour of the worker against the built-in sandbox."""
