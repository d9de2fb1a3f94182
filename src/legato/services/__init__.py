"""Background services over the store, run by whoever hosts them.

``periodic.PeriodicService`` is the loop (a pass every few seconds on a daemon thread,
a failed pass logged and retried); ``scheduler`` makes the runs of deployments'
schedules. The server hosts them (:mod:`legato.server.services`, which adds what only
a server does: waking the workers waiting on it), and ``flow.serve()`` on the embedded
store runs the scheduler for its one deployment (:mod:`legato.workers.serving`).
Services talk to the store directly: they run where the store is, never in a flow.
"""
