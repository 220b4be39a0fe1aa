"""The one compiled part of samizdat: the SQLite store's fast path (src/samizdat/store/_fastadd.c).

Optional: where it cannot be built (no C compiler, no SQLite headers), the install goes on without it and the
store writes through Python's sqlite3 module, with the same results (samizdat/store/fastadd.py says which is used).
Everything else is in pyproject.toml.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing the install when the extension cannot be compiled."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure leaves the pure-Python path
            self._skip(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - as above
            self._skip(exc)

    @staticmethod
    def _skip(exc: Exception) -> None:
        print(
            f"samizdat: the store's fast path was not built ({exc}); the store writes through Python's sqlite3",
            file=sys.stderr,
        )


setup(
    ext_modules=[
        Extension(
            "samizdat.store._fastadd",
            ["src/samizdat/store/_fastadd.c"],
            libraries=["sqlite3"],
            extra_compile_args=["-O2", "-Wall"],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
