"""/v1: the Razorpay-compatible surface of the API app, at the host root on the same port. Its
routes (routes.py), HTTP Basic authentication (auth.py), Razorpay's error envelope (errors.py)
and the ASGI edge that normalises its paths and re-shapes middleware refusals (edge.py)."""
