r"""Exactly-once from Kafka to Kafka: each batch's output and its offsets in one transaction.

Every batch writes its results to the output topic inside a Kafka transaction
that also commits the batch's offset ranges to the consumer group
(``send_offsets_to_transaction``). The stream starts from the group's committed
offsets, so after a crash the batch whose transaction did not commit is read
again, and a ``read_committed`` consumer of the output sees every result once.

Usage::

    fastdstream example kafka_to_kafka_exactly_once --bootstrap 127.0.0.1:9092 \
        --input lines --output shouted [--stop-after-idle 4]
"""

from __future__ import annotations

import argparse
from typing import Any

import confluent_kafka

from fastdstream import Context, StreamingContext
from fastdstream.kafka import KafkaUtils

TIMEOUT_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(prog="fastdstream example kafka_to_kafka_exactly_once",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--master", default="local[2]",
                        help="local[N] or local-cluster[N,C,M] (default local[2])")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", default="kafka-to-kafka-example")
    parser.add_argument("--transactional-id", default="kafka-to-kafka-example")
    parser.add_argument("--batch", type=float, default=0.5)
    parser.add_argument("--stop-after-idle", type=int, default=0)
    args = parser.parse_args()

    # The same transactional.id after a crash fences the dead instance and aborts
    # whatever transaction it left open.
    producer = confluent_kafka.Producer({"bootstrap.servers": args.bootstrap,
                                         "transactional.id": args.transactional_id})
    producer.init_transactions(TIMEOUT_S)
    group = confluent_kafka.Consumer({"bootstrap.servers": args.bootstrap,
                                      "group.id": args.group})
    group_metadata = group.consumer_group_metadata()

    ssc = StreamingContext(Context(args.master, "KafkaToKafka"), args.batch)
    stream = KafkaUtils.createDirectStream(
        ssc, [args.input],
        {"bootstrap.servers": args.bootstrap, "group.id": args.group,
         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    shouted = stream.mapValues(str.upper)
    idle = [0]

    def output(rdd: Any) -> None:  # a Kafka batch's RDD: it has offsetRanges()
        ranges = rdd.offsetRanges()
        records = rdd.collect()
        producer.begin_transaction()
        try:
            for key, value in records:
                producer.produce(args.output, key=key, value=value)
            producer.send_offsets_to_transaction(
                [confluent_kafka.TopicPartition(r.topic, r.partition, r.untilOffset)
                 for r in ranges], group_metadata, TIMEOUT_S)
            producer.commit_transaction(TIMEOUT_S)
        except BaseException:
            producer.abort_transaction(TIMEOUT_S)
            raise
        idle[0] = 0 if records else idle[0] + 1
        print(f"committed batch of {len(records)} records", flush=True)

    shouted.foreachRDD(output)
    ssc.start()
    try:
        while not ssc.awaitTerminationOrTimeout(0.2):
            if args.stop_after_idle and idle[0] >= args.stop_after_idle:
                break
    finally:
        ssc.stop(stopGraceFully=True)
        group.close()


if __name__ == "__main__":
    main()
