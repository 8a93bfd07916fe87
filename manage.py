#!/usr/bin/env python
"""Django's command-line utility for the Neixiang one-blueprint service."""

import gc
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Nothing here multiplies matrices, but numpy's OpenBLAS starts a thread per core at
    # import, and they spin: about 0.1 s of CPU in an import of 100 000 features, taken from
    # the import's own workers. Read once, when numpy is first imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if sys.argv[1:2] == ["import_layer"]:
        # The file is read on other threads while Django starts on this one.
        from layers.importers import read_ahead

        read_ahead.start(sys.argv[2:])
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
    # The interpreter's last collection walks every object still alive: about 0.3 s after
    # an import of 100 000 features, for memory the exit frees anyway. Finalizers and
    # atexit handlers still run.
    gc.freeze()


if __name__ == "__main__":
    main()
