"""The engine: one flow run or task run as a series of state proposals.

Retries, timeouts, caching, result persistence and resume-from-failure live
here. It talks to the orchestrator protocol only, never to SQL or HTTP.
"""
