"""Where a claimed flow run is started: one module per kind of infrastructure."""
