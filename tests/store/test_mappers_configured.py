"""A worker's first store query must not be the one that configures the ORM's mappers: a cancelled
sync activity raises into its thread, and a configuration cut short there fails every later query of
the process ("One or more mappers failed to initialize ... Original exception was: Cancelled")."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_new_store_has_configured_every_mapper(tmp_path) -> None:
    # A fresh interpreter: in this one, earlier tests have configured the mappers already.
    script = textwrap.dedent(
        f"""
        from sevflow.store.repository import Store
        from sevflow.store.schema import Base
        assert Base.registry._new_mappers, "mappers configured before any store was made"
        store = Store.from_url("sqlite:///{tmp_path / "sevflow.db"}")
        print(Base.registry._new_mappers)
        store.dispose()
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
