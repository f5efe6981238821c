"""Location strategies (kafka-0-10's names): where a Kafka partition's task should run.

On ``local[N]`` every executor is this process, so all strategies place tasks
alike; they are accepted so that Spark programs port unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LocationStrategy:
    name: str
    hosts: dict[str, str] = field(default_factory=dict)


class LocationStrategies:
    @staticmethod
    def PreferConsistent() -> LocationStrategy:
        return LocationStrategy("PreferConsistent")

    @staticmethod
    def PreferBrokers() -> LocationStrategy:
        return LocationStrategy("PreferBrokers")

    @staticmethod
    def PreferFixed(hostMap: dict[str, str]) -> LocationStrategy:
        return LocationStrategy("PreferFixed", dict(hostMap))
