"""Run a module under cProfile timed by the process's CPU clock, not the wall clock.

`python bench/cpu_profile.py OUT.prof -m telehealth serve ...`: the profile is written
when the module returns (a server, after SIGINT). With the wall clock, time spent waiting
for a core on a busy machine is charged to whatever was waiting; with `process_time` only
CPU the process actually used is. It is the CPU of every thread of the process, charged to
what the main thread was running (the SQLite driver's thread is the only other busy one).
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    """Profile `-m MODULE ARGS...` into the file named first."""
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        sys.exit("usage: cpu_profile.py OUT.prof -m MODULE [ARGS...]")
    out, module = sys.argv[1], sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
