"""Empty the Prometheus multi-process folder. Run it before the gunicorn workers start (in
`make run`), so samples of earlier server runs are not merged into the new ones."""

from django.core.management.base import BaseCommand

from ops import metrics


class Command(BaseCommand):
    help = "Delete the Prometheus multi-process sample files of earlier server runs."

    def handle(self, *args, **options) -> None:
        removed = metrics.clear_multiprocess_dir()
        if options["verbosity"] > 0:
            self.stdout.write(f"removed {removed} metrics file(s) from "
                              f"{metrics.multiprocess_dir() or '(not in multi-process mode)'}")
