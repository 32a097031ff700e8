"""The fault suite (issue 17): real workers killed, real Redis and PostgreSQL restarted, processor faults,
fuzzed input. The quick sizes run inside `make test`; `make chaos` runs the full sizes (KASSA_CHAOS_FULL=1).
Every scenario records its figures, printed in one table at the end of the run."""
