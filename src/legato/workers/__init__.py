"""Workers: claim due runs of a work pool, launch each on its infrastructure, watch them.

``worker.Worker`` is the loop (claim, launch, heartbeat, reap, stop on a signal);
``launchers/`` start one flow run somewhere (``process``: a subprocess on this
machine); ``execute`` is what runs inside it, under the run's own id, and
``entrypoints`` imports the flow it names. Workers talk to the orchestrator protocol
(:class:`legato.orchestrator.protocol.WorkerBackend`), so one works against a server
(the client) or the embedded store alike.

What else runs a stored or deployed flow lives here too, since it loads flows the way
a worker does: ``deploy`` (``flow.deploy``, ``legato deploy``), ``serving``
(``flow.serve``: a worker in this process), ``reruns`` (``legato.retry_flow_run``) and
``cancel``. This room is above the SDK: ``Flow.deploy`` and ``Flow.serve`` reach it
through :mod:`legato.sdk.deploying`.
"""
