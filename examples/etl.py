"""An ETL flow: extract -> mapped transform -> load.

- ``extract`` has ``retries=2``: it fails on its first attempt in every process
  (a pretend flaky source), so each run shows one ``AwaitingRetry`` then ``Retrying``.
- ``transform`` is mapped over the records, one task run per record, and cached on
  its inputs for an hour: run the file twice and the second run's transform task
  runs end ``Cached`` without running their body.
- ``load`` writes the records as JSON into ``output_dir`` (default: a temporary
  folder) and reports through the run logger, so the line is stored with the run.

Run it with ``python examples/etl.py [OUTPUT_DIR]``; it prints the flow run id.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from legato import flow, get_run_logger, task, task_input_hash

_extract_attempts = 0  # module-level, so the first attempt in each process fails


@task(retries=2, retry_delay_seconds=1)
def extract() -> list[dict[str, Any]]:
    """Read records from a source that is down on the first try."""
    global _extract_attempts
    _extract_attempts += 1
    if _extract_attempts == 1:
        raise ConnectionError("source not reachable (simulated; the retry will succeed)")
    return [
        {"id": 1, "city": "Lisbon", "temp_f": 68.0},
        {"id": 2, "city": "Oslo", "temp_f": 41.0},
        {"id": 3, "city": "Nairobi", "temp_f": 77.0},
        {"id": 4, "city": "Lima", "temp_f": 64.4},
        {"id": 5, "city": "Osaka", "temp_f": 59.0},
    ]


@task(cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=1))
def transform(record: dict[str, Any]) -> dict[str, Any]:
    """Add the temperature in Celsius (cached on the record for an hour)."""
    celsius = round((record["temp_f"] - 32) * 5 / 9, 1)
    return {**record, "temp_c": celsius}


@task
def load(records: list[dict[str, Any]], output_dir: str) -> str:
    """Write the records as one JSON file; return its path."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "weather.json"
    path.write_text(json.dumps(records, indent=2))
    get_run_logger().info("Loaded %d records into %s", len(records), path)
    return str(path)


@flow
def etl(output_dir: str | None = None) -> str:
    """Extract, transform each record (mapped, cached), load to a JSON file."""
    folder = output_dir or tempfile.mkdtemp(prefix="legato-etl-")
    records = extract()
    transformed = transform.map(records)
    # Passing the futures (not their values) records the edges transform -> load.
    return load(transformed, folder)


if __name__ == "__main__":
    state = etl(*sys.argv[1:2], return_state=True)
    print(f"flow run id: {state.run_id}")
    print(f"final state: {state.name}")
    if state.is_completed():
        print(f"output: {state.result()}")
    sys.exit(0 if state.is_completed() else 1)
