"""API handlers, one module per resource: each takes the validated input, calls one core function,
answers JSON. The route table that binds them to URLs is portal/api/blueprint.py."""
