"""Shared library of the Pacer services.

Nothing here connects at import time: services open pools and clients in their
lifespan and pass them down.
"""
