-- 006: clocks follow their site policy: each keeps the steps it was armed with
-- (warnings, breach, ladder levels and their moments) and what meets it.
ALTER TABLE clocks
  ADD COLUMN steps_at bigint[] NOT NULL DEFAULT '{}',   -- microseconds since the epoch, one a step
  ADD COLUMN steps    text[]   NOT NULL DEFAULT '{}',   -- 'W50', 'B', 'L1:supervisor', ...; stage indexes them
  ADD COLUMN met_by   integer  NOT NULL DEFAULT 0;      -- bit 1 << caseloop.v1.CaseAction of each action that meets it
