-- 012: a clock's steps stored typed, one composite value a step, instead of two parallel
-- arrays of which one held text ('W50', 'B', 'L1:supervisor') to be parsed again.
-- Every escalation instance is stopped before a service that applies this one starts:
-- an older escalation reads the columns it drops.
SET LOCAL statement_timeout = 0; -- a large clocks table takes longer than a statement may
CREATE TYPE clock_step_kind AS ENUM ('warning', 'breach', 'level');
-- Roles of staff, lowest first (the escalation ladder climbs them), as policies name them.
CREATE TYPE staff_role AS ENUM ('assistant', 'specialist', 'supervisor', 'project_head', 'manager', 'leadership');
CREATE TYPE clock_step AS (
  at_us   bigint,            -- when it is due, microseconds since the epoch
  kind    clock_step_kind,
  percent smallint,          -- a warning: its share of the clock's duration, 1..99
  level   smallint,          -- a ladder level: which, 1 first
  role    staff_role         -- a ladder level: who is told
);

-- steps, each after the first `after` moved on by by_us: a ladder re-spaced after a
-- level was told late.
CREATE FUNCTION clock_steps_moved(steps clock_step[], after integer, by_us bigint) RETURNS clock_step[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT coalesce(array_agg(ROW((steps[o]).at_us + CASE WHEN o > after THEN by_us ELSE 0 END, (steps[o]).kind,
                                      (steps[o]).percent, (steps[o]).level, (steps[o]).role)::clock_step ORDER BY o), '{}')
        FROM generate_subscripts(steps, 1) AS o $$;

-- steps, each at the time at the same place of times (a clock that counts again after a
-- pause); a step without one keeps its own.
CREATE FUNCTION clock_steps_at(steps clock_step[], times bigint[]) RETURNS clock_step[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT coalesce(array_agg(ROW(coalesce(times[o], (steps[o]).at_us), (steps[o]).kind, (steps[o]).percent,
                                      (steps[o]).level, (steps[o]).role)::clock_step ORDER BY o), '{}')
        FROM generate_subscripts(steps, 1) AS o $$;

-- The open clocks armed before (a closed one's steps are never read again): each text step
-- with its time; a step not of that form keeps its time with no kind, which stops its clock
-- when it comes to it (logged), as before.
ALTER TABLE clocks ADD COLUMN plan clock_step[] NOT NULL DEFAULT '{}';
UPDATE clocks SET plan = ARRAY(
  SELECT CASE
    WHEN a IS NULL OR s IS NULL THEN NULL
    WHEN s = 'B' THEN ROW(a, 'breach', NULL, NULL, NULL)::clock_step
    WHEN s ~ '^W[0-9]{1,4}$' THEN ROW(a, 'warning', substr(s, 2)::smallint, NULL, NULL)::clock_step
    WHEN s ~ '^L[0-9]{1,4}:(assistant|specialist|supervisor|project_head|manager|leadership)$'
      THEN ROW(a, 'level', NULL, split_part(substr(s, 2), ':', 1)::smallint, split_part(s, ':', 2)::staff_role)::clock_step
    ELSE ROW(a, NULL, NULL, NULL, NULL)::clock_step
    END
  FROM unnest(steps_at, steps) WITH ORDINALITY AS t(a, s, o)
  WHERE o <= least(cardinality(steps_at), cardinality(steps))
  ORDER BY o)
WHERE cardinality(steps) > 0 AND closed_at IS NULL;
ALTER TABLE clocks DROP COLUMN steps_at, DROP COLUMN steps;
ALTER TABLE clocks RENAME COLUMN plan TO steps;   -- stage counts those fired: steps[stage + 1] is next
