"""Settings for mypy's Django plugin: it imports settings but never connects to a database."""

import os
from pathlib import Path

var = Path(__file__).resolve().parent.parent / "test-output" / "typecheck"
var.mkdir(parents=True, exist_ok=True)
(var / "secret_key").write_text("typecheck-only-" + "x" * 40)
os.environ["TUTELA_VAR_DIR"] = str(var)
os.environ.setdefault("DATABASE_URL", "postgresql://typecheck@127.0.0.1:5432/unused")

from tutela.settings import *  # noqa: E402, F403
