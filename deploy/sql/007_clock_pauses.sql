-- 007: clocks that stop counting while the case waits on the customer.
ALTER TABLE clocks
  ADD COLUMN pauses_on  integer NOT NULL DEFAULT 0,   -- bit 1 << caseloop.v1.CaseAction of each action that pauses it
  ADD COLUMN resumes_on integer NOT NULL DEFAULT 0,   -- ... of each action after which it counts again
  ADD COLUMN paused_at  timestamptz;                  -- while paused: since when
