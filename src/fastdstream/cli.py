"""The ``fastdstream`` command: submit a program, run a test Kafka broker or line server,
run a bundled example.

``fastdstream submit`` is spark-submit's counterpart: the program runs in this process
with ``--master``, ``--name`` and ``--conf`` given to every ``Context``/``SparkContext``
it creates (through ``SparkConf``'s defaults), and what the program sets itself wins.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

from fastdstream.conf import SUBMIT_CONF_ENV

_DESCRIPTION = """\
Run streaming programs written against fastdstream (PySpark's DStream API), and the
local services to try them against. `fastdstream COMMAND --help` tells more."""

_EPILOG = """\
examples:
  fastdstream example network_wordcount          word count over generated text, 10 s
  fastdstream submit app.py --master "local[4]" --conf spark.streaming.blockInterval=100ms
  fastdstream line-server --port 9999            then type lines; ssc.socketTextStream
                                                 ("localhost", 9999) receives them
  fastdstream kafka-broker --port 9092 --topic lines:2"""

_SUBMIT_DESCRIPTION = """\
Run APP (a Python file) as spark-submit runs a PySpark program: in this Python, with
APP's directory first on sys.path and APP's own arguments after it. Every Context,
SparkContext or SparkConf() the program creates starts from --master, --name and the
--conf settings; a setting the program makes itself (SparkConf().setMaster(...),
SparkContext("local[2]"), Context(master, ...)) wins, as in Spark."""

_SUBMIT_EPILOG = """\
examples:
  fastdstream submit app.py --master "local[4]"
  fastdstream submit app.py --master "local-cluster[2,1,1024]" --conf spark.task.maxFailures=8
  fastdstream submit --conf spark.streaming.stopGracefullyOnShutdown=true app.py in.txt -v

Options go before APP or right after it: APP's own arguments start at the first one
that is not --master, --name or --conf (or after --). Inside the program,
SparkContext().getConf().get("spark.master") shows what it got."""

_SUBMIT_OPTIONS = ("--master", "--name", "--conf", "-c")


def _examples_dir() -> Path:
    import fastdstream.examples

    return Path(fastdstream.examples.__file__).parent


def example_names() -> list[str]:
    """The bundled examples, by the name ``fastdstream example`` takes.

    Returns
    -------
    list of str
    """
    return sorted(m.name for m in pkgutil.iter_modules([str(_examples_dir())]))


def _example_summary(name: str) -> str:
    text = (_examples_dir() / f"{name}.py").read_text(encoding="utf-8")
    doc = text.split('"""', 2)[1] if '"""' in text else ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _parse_conf(items: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--conf takes KEY=VALUE (e.g. spark.task.maxFailures=8), got {item!r}")
        settings[key.strip()] = value
    return settings


def _options_after_app(args: argparse.Namespace, parser: argparse.ArgumentParser
                       ) -> list[str]:
    """Take submit's own options from the front of what follows APP (``submit app.py
    --master local[4] in.txt``); return the rest, the program's arguments."""
    rest = list(args.app_args)
    while rest:
        name, eq, value = rest[0].partition("=")
        if rest[0] == "--":
            return rest[1:]
        if name not in _SUBMIT_OPTIONS:
            break
        if not eq:
            if len(rest) < 2:
                parser.error(f"{name} needs a value")
            value = rest[1]
        rest = rest[1 if eq else 2:]
        if name in ("--conf", "-c"):
            args.conf.append(value)
        else:
            setattr(args, name.lstrip("-"), value)
    return rest


def _submit(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    app = Path(args.app)
    app_args = _options_after_app(args, parser)
    if not app.is_file():
        parser.error(f"no such program: {app} (give the path of a Python file)")
    settings = _parse_conf(args.conf, parser)
    if args.master:
        settings["spark.master"] = args.master
    # spark-submit names an application after its file when --name is not given.
    settings["spark.app.name"] = args.name or settings.get("spark.app.name", app.name)
    return _run_program(str(app), app_args + args.verbatim, settings)


def _run_program(path: str, argv: list[str], settings: dict[str, str]) -> int:
    """Run ``path`` as ``__main__`` with ``argv`` and the submitted settings."""
    os.environ[SUBMIT_CONF_ENV] = json.dumps(settings)
    sys.argv = [path, *argv]
    sys.path.insert(0, str(Path(path).resolve().parent))  # as `python app.py` does
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:  # the program's own exit code
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _example(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    names = example_names()
    if args.name is None or args.name == "list":
        width = max(map(len, names))
        for name in names:
            print(f"{name:<{width}}  {_example_summary(name)}")
        return 0
    name = args.name.replace("-", "_").removesuffix(".py")
    if name not in names:
        parser.error(f"no example {args.name!r}; the examples are: {', '.join(names)}")
    path = _examples_dir() / f"{name}.py"
    return _run_program(str(path), list(args.example_args), {})


def _line_server(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from fastdstream.testing import line_server

    return line_server.run(args)


def _kafka_broker(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from fastdstream.testing import kafka_broker

    return kafka_broker.run(args)


def build_parser() -> argparse.ArgumentParser:
    """The ``fastdstream`` command's parser, with one sub-parser per command.

    Returns
    -------
    argparse.ArgumentParser
    """
    from fastdstream.testing import kafka_broker, line_server

    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="fastdstream", description=_DESCRIPTION,
                                     epilog=_EPILOG, formatter_class=raw)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    submit = commands.add_parser(
        "submit", help="run a program with a master and settings (spark-submit)",
        description=_SUBMIT_DESCRIPTION, epilog=_SUBMIT_EPILOG, formatter_class=raw)
    submit.add_argument("--master", metavar="MASTER",
                        help="local (1 thread), local[N], local[*] (a thread per core) or "
                             "local-cluster[N,C,M] (N worker processes of C threads; M is "
                             "Spark's memory in MB, accepted). Default: the program's own, "
                             "else $MASTER, else local[*]")
    submit.add_argument("--name", metavar="NAME",
                        help="the application's name (spark.app.name); default: APP's file name")
    submit.add_argument("--conf", "-c", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting, e.g. spark.streaming.blockInterval=100ms (repeatable)")
    submit.add_argument("app", metavar="APP", help="the program: a .py file")
    submit.add_argument("app_args", nargs=argparse.REMAINDER, metavar="ARGS",
                        help="the program's own arguments (its sys.argv[1:]), after any "
                             "of the options above")
    submit.set_defaults(run=_submit, command_parser=submit)

    example = commands.add_parser(
        "example", help="run a bundled example (list them with `fastdstream example`)",
        description="Run one of the examples that ship with fastdstream; without NAME, "
                    "list them. Arguments after NAME are the example's own "
                    "(`fastdstream example NAME --help` shows them).",
        epilog="examples:\n  fastdstream example network_wordcount --seconds 5\n"
               "  fastdstream example network_wordcount --columnar --master local[2]",
        formatter_class=raw)
    example.add_argument("name", nargs="?", metavar="NAME", help="the example to run")
    example.add_argument("example_args", nargs=argparse.REMAINDER, metavar="ARGS",
                         help="the example's own arguments")
    example.set_defaults(run=_example, command_parser=example)

    lines = commands.add_parser(
        "line-server", help="a TCP server sending lines to every client (`nc -lk PORT`)",
        description="Listen on HOST:PORT and send every line typed on stdin (or generated "
                    "text, with --demo) to every connected client, as `nc -lk PORT` does. "
                    "ssc.socketTextStream(HOST, PORT) reads it. Ctrl-C or SIGTERM stops it.",
        epilog="examples:\n  fastdstream line-server --port 9999\n"
               "  fastdstream line-server --port 9999 --demo --rate 100",
        formatter_class=raw)
    line_server.add_arguments(lines)
    lines.set_defaults(run=_line_server, command_parser=lines)

    kafka = commands.add_parser(
        "kafka-broker", help="a single-node Kafka broker on 127.0.0.1, until Ctrl-C",
        description=f"Run Apache Kafka {kafka_broker.KAFKA_VERSION} (single-node KRaft) on "
                    "127.0.0.1 and print its bootstrap.servers; Ctrl-C or SIGTERM stops it "
                    "and removes its data (unless --keep-data or --work-dir). Needs Java "
                    "17+; the first run also needs Maven, which downloads about 66 MB into "
                    "~/.m2 (the broker's jars, 43 MB, and Maven's own plugins), showing "
                    "progress, and copies the jars into $FASTDSTREAM_KAFKA_CACHE "
                    "(default ~/.cache/fastdstream).",
        epilog="examples:\n  fastdstream kafka-broker --port 9092 --topic lines:2\n"
               "  fastdstream kafka-broker --set log.retention.ms=60000 --keep-data",
        formatter_class=raw)
    kafka_broker.add_arguments(kafka)
    kafka.set_defaults(run=_kafka_broker, command_parser=kafka)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"fastdstream {version('fastdstream')}"
    except PackageNotFoundError:
        return "fastdstream (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastdstream`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the command's name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # What follows `--` is the submitted program's, untouched (argparse would drop the
    # `--` itself and then read the options after it as submit's).
    verbatim: list[str] = []
    if argv[:1] == ["submit"] and "--" in argv:
        at = argv.index("--")
        argv, verbatim = argv[:at], argv[at + 1:]
    args = parser.parse_args(argv)
    args.verbatim = verbatim
    if args.command is None:
        parser.print_help()
        return 2
    code: int = args.run(args, args.command_parser)
    return code


if __name__ == "__main__":
    sys.exit(main())
