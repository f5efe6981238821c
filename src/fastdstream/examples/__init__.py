"""Example programs that ship with fastdstream; ``fastdstream example NAME`` runs one.

- ``network_wordcount``: PySpark's network word count, over a line server of its own
  (or ``HOST PORT``).
- ``kafka_exactly_once``: a word count from Kafka into SQLite, results and offsets in
  one transaction.
- ``kafka_to_kafka_exactly_once``: Kafka to Kafka, each batch's output and offsets in
  one Kafka transaction.
"""
