"""Batch scheduling: job generator and scheduler, receiver tracker, listener bus,
rate control (Spark's ``streaming/scheduler/``)."""
