"""The pytest plugin, as a user's project meets it: pytester runs a user's test file in
a pytest of its own (a subprocess), which finds the plugin through its entry point."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_test_file() -> str:
    """The user's test file the README shows (the block after its heading)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Testing and benchmarking a job with pytest"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_manual_streaming_feeds_batches_and_compares_outputs(pytester: pytest.Pytester
                                                             ) -> None:
    pytester.makepyfile(test_user="""
        import threading

        import pytest
        from fastdstream import Context

        def test_batches(manual_streaming):
            numbers = manual_streaming.input([[1, 2], [3]])
            out = manual_streaming.collect(numbers.map(lambda x: x * 10))
            manual_streaming.run_batches(3)          # the third batch has nothing queued
            assert out == [[10, 20], [30], []]
            manual_streaming.feed(numbers, [4])
            manual_streaming.run_batches()
            assert out[-1] == [40]

        @pytest.mark.fastdstream_streaming(batch_seconds=0.5, master="local[1]",
                                           conf={"spark.x": "y"})
        def test_settings(manual_streaming):
            assert manual_streaming.batch_ms == 500
            assert manual_streaming.sc.master == "local[1]"
            assert manual_streaming.sc.getConf().get("spark.x") == "y"

        def test_a_wrong_expectation_fails(manual_streaming):
            out = manual_streaming.collect(manual_streaming.input([[1, 2]]))
            manual_streaming.run_batches()
            assert out == [[1, 3]]

        def test_zz_every_context_was_stopped():
            assert Context._active is None
            assert "streaming-job-executor" not in [t.name for t in threading.enumerate()]
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.re_match_lines([r".*assert \[\[1, 2\]\] == \[\[1, 3\]\]"])


def test_the_readme_test_file_runs_both_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wordcount=readme_test_file())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s",
                                           "--benchmark-json=bench.json")
    result.assert_outcomes(passed=4)  # one word count, three intervals
    result.stdout.fnmatch_lines([
        "*fastdstream batch intervals*",
        "*test*interval*batches*records/s*p50 ms*p99 ms*kept up*",
        "*test_word_count_intervals?0.1s?*0.1 s*40*",
        "*test_word_count_intervals?2s?*2 s*2*",
    ])
    report = json.loads((pytester.path / "bench.json").read_text())
    runs = {b["param"]: b for b in report["benchmarks"]}
    assert sorted(runs) == ["0.1s", "0.5s", "2s"]
    for bench in runs.values():
        assert bench["group"] == "batch intervals: test_word_count_intervals"
        info = bench["extra_info"]
        assert info["latency_p50_ms"] <= info["latency_p99_ms"]
        assert info["records_per_second"] > 0 and isinstance(info["kept_up"], bool)
    assert runs["0.5s"]["extra_info"]["batches"] == 8


def test_batch_interval_benchmark_without_pytest_benchmark_says_so(pytester: pytest.Pytester
                                                                   ) -> None:
    pytester.makepyfile(test_user="""
        def test_it(batch_interval_benchmark):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*needs pytest-benchmark (pip install pytest-benchmark)*"])


def test_bad_intervals_are_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="""
        import pytest

        @pytest.mark.batch_intervals(0.5, "1s")
        def test_it(batch_interval_benchmark):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*batch_intervals takes positive numbers of seconds, "
                                 "got '1s'*"])
