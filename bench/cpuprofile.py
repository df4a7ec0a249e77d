"""Run a module as `python -m MODULE ARGS` under cProfile with a CPU-time clock, so that
time a process spends waiting (for its socket, for a core on a busy machine) is not
charged to the function that waited; the profile is written when the module returns or
is interrupted (SIGINT).

    python bench/cpuprofile.py OUT.prof telehealth serve --port 8080
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    """Profile `python -m MODULE ARGS` into OUT."""
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, module, *rest = sys.argv[1:]
    sys.argv = [module, *rest]
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        pass
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
