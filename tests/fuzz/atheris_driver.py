"""Coverage-guided fuzzing of one target with atheris (libFuzzer): ``python atheris_driver.py TARGET [libFuzzer
options and corpus directories]``. Run by ``scripts/fuzz``, which picks the options; see docs/fuzzing.md.

The ``samizdat`` package is instrumented for coverage (the targets module is imported inside
``atheris.instrument_imports``); libFuzzer mutates the inputs that reach new code. An input that breaks a target's
contract raises, and libFuzzer writes it where ``-artifact_prefix`` says.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["samizdat"]):
    import fuzz_targets


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in fuzz_targets.TARGETS:
        sys.exit(f"usage: atheris_driver.py TARGET [libFuzzer options]; targets: {', '.join(fuzz_targets.TARGETS)}")
    target = fuzz_targets.TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
