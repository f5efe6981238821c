"""Receivers: the Receiver API, its supervisor, block generator and write-ahead log."""
