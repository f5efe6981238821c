"""Build the compiled core, ``fastdstream._core``.

The core links nothing but CPython: it reads Arrow buffers through the buffer
protocol, so the wheel does not depend on pyarrow's C++ ABI.
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

extra_compile_args = [] if sys.platform == "win32" else ["-O3", "-fno-strict-aliasing"]
if os.environ.get("FASTDSTREAM_NATIVE") == "1":
    extra_compile_args.append("-march=native")

extensions = [
    Extension(
        "fastdstream._core",
        sources=["src/fastdstream/_core.pyx"],
        extra_compile_args=extra_compile_args,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        # Generated C stays out of the package folder, so it never ships in the wheel.
        build_dir="build/cython",
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
