"""What users import: decorators, futures, loggers, task runners (re-exported by ``legato``)."""
