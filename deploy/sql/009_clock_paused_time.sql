-- 009: how long each clock has been held back by pauses, so that a clock re-timed by a
-- new policy version keeps that time.
ALTER TABLE clocks
  ADD COLUMN paused_us bigint NOT NULL DEFAULT 0;   -- microseconds of the clock's kind of time (wall or working)
