-- 019: a supervisor's review of a callback's record (R-CB-8).
ALTER TABLE callbacks
  ADD COLUMN reviewed_by     text,
  ADD COLUMN reviewed_at     timestamptz,
  ADD COLUMN review_opinion  text;
-- The records waiting for review, per site, oldest first.
CREATE INDEX callbacks_to_review ON callbacks (site, recorded_at) WHERE recorded_at IS NOT NULL AND reviewed_at IS NULL;
-- The callbacks not ended yet, per site, oldest first (R-CB-9).
CREATE INDEX callbacks_unended ON callbacks (site, closed_at) WHERE state IN (1, 2);
