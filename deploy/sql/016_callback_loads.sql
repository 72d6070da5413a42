-- 016: the performers' callback load, counted as the callbacks change, so that placing a
-- callback reads a few rows per performer rather than every open callback of the site.

-- Per site, performer and window instance (-infinity: none): the callbacks placed
-- there (any state: a window's capacity counts what was placed in it) and those
-- still open (state SCHEDULED: a performer's balance).
CREATE TABLE callback_loads (
  site          text NOT NULL,
  performer     text NOT NULL,
  window_start  timestamptz NOT NULL,
  placed        integer NOT NULL,
  open          integer NOT NULL,
  PRIMARY KEY (site, performer, window_start)
);

-- Adds what a statement on callbacks changed: the rows it left (new_rows) count
-- in, the rows as they were (old_rows) count out; the keys are taken in one order.
CREATE FUNCTION callback_loads_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO callback_loads AS l (site, performer, window_start, placed, open)
    SELECT site, performer, coalesce(window_start, '-infinity'), count(*), count(*) FILTER (WHERE state = 1)
    FROM new_rows WHERE performer IS NOT NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (site, performer, window_start)
    DO UPDATE SET placed = l.placed + excluded.placed, open = l.open + excluded.open;
  ELSE
    INSERT INTO callback_loads AS l (site, performer, window_start, placed, open)
    SELECT site, performer, w, sum(placed), sum(open)
    FROM (SELECT site, performer, coalesce(window_start, '-infinity') AS w, 1 AS placed, (state = 1)::int AS open
          FROM new_rows WHERE performer IS NOT NULL
          UNION ALL
          SELECT site, performer, coalesce(window_start, '-infinity'), -1, -(state = 1)::int
          FROM old_rows WHERE performer IS NOT NULL) AS d
    GROUP BY 1, 2, 3 HAVING sum(placed) <> 0 OR sum(open) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (site, performer, window_start)
    DO UPDATE SET placed = l.placed + excluded.placed, open = l.open + excluded.open;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER callback_loads_insert AFTER INSERT ON callbacks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION callback_loads_count();
CREATE TRIGGER callback_loads_update AFTER UPDATE ON callbacks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION callback_loads_count();

INSERT INTO callback_loads (site, performer, window_start, placed, open)
SELECT site, performer, coalesce(window_start, '-infinity'), count(*), count(*) FILTER (WHERE state = 1)
FROM callbacks WHERE performer IS NOT NULL GROUP BY 1, 2, 3;
