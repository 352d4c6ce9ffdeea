"""Ray Serve app: a FastAPI ingress (login, limits, static phone page) in front of a batched model deployment."""
