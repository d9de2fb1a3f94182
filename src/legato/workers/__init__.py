"""Workers: claim due runs of a work pool, launch each on its infrastructure, watch them.

``worker.Worker`` is the loop (claim, launch, heartbeat, reap, stop on a signal);
``launchers/`` start one flow run somewhere (``process``: a subprocess on this
machine); ``execute`` is what runs inside it, under the run's own id. Workers
talk to the orchestrator protocol only, so one works against a server (the
client) or the embedded store alike.
"""
