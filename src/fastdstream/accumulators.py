"""Accumulators, under PySpark's module name (``pyspark.accumulators``)."""

from fastdstream.engine.accumulator import (
    COMPLEX_ACCUMULATOR_PARAM,
    FLOAT_ACCUMULATOR_PARAM,
    INT_ACCUMULATOR_PARAM,
    Accumulator,
    AccumulatorParam,
    AddingAccumulatorParam,
)

__all__ = ["COMPLEX_ACCUMULATOR_PARAM", "FLOAT_ACCUMULATOR_PARAM", "INT_ACCUMULATOR_PARAM",
           "Accumulator", "AccumulatorParam", "AddingAccumulatorParam"]
