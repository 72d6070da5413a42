-- 008: a case raised during a callback names the case that was called back (R-CB-6).
ALTER TABLE cases
  ADD COLUMN raised_in_callback_of bigint REFERENCES cases (id);
