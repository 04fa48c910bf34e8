"""The registry rows: offices and operators (part 1), and the mid-period changes (part 2).

Every write is idempotent: inserts skip rows that exist, updates only touch rows that differ, and
every `updated_at` is an explicit timestamp from the generated world, never `now()`.
"""
from __future__ import annotations

from lakehouse.datagen.world import World, registry_rows
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.sources.registry import REGISTRY_DDL

_INSERT_OFFICES = """
INSERT INTO offices (office_id, name, region, district, opened_on, updated_at)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (office_id) DO NOTHING
"""
_INSERT_OPERATORS = """
INSERT INTO operators (operator_id, office_id, full_name, role, updated_at)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT (operator_id) DO NOTHING
"""
_MOVE_OFFICE = """
UPDATE offices SET region = %(region)s, updated_at = %(at)s
WHERE office_id = %(id)s AND (region, updated_at) IS DISTINCT FROM (%(region)s, %(at)s)
"""
_CHANGE_ROLE = """
UPDATE operators SET role = %(role)s, updated_at = %(at)s
WHERE operator_id = %(id)s AND (role, updated_at) IS DISTINCT FROM (%(role)s, %(at)s)
"""


def write_registry(endpoint: Endpoint, world: World, part: str) -> None:
    """Part 1: create the tables and insert the rows. Part 2: the same inserts (so part 2 alone is
    complete), then move one office to another region and change one operator's role."""
    rows = registry_rows(world)
    with connect(endpoint) as conn:
        conn.execute(REGISTRY_DDL)
        with conn.cursor() as cur:
            cur.executemany(_INSERT_OFFICES, rows["offices"])
            cur.executemany(_INSERT_OPERATORS, rows["operators"])
            if part in ("2", "all"):
                moved, changed = world.moved_office, world.changed_operator
                cur.execute(_MOVE_OFFICE, {"region": moved.new_region, "at": moved.changed_at, "id": moved.office_id})
                cur.execute(_CHANGE_ROLE, {"role": changed.new_role, "at": changed.changed_at,
                                           "id": changed.operator_id})
        conn.commit()
