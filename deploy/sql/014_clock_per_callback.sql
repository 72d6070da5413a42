-- 014: the record clock (C6) runs per callback: a case called back twice has two,
-- each met by its own record. Other clocks have callback_id 0: one per case and code.
ALTER TABLE clocks ADD COLUMN callback_id bigint NOT NULL DEFAULT 0;
ALTER TABLE clocks DROP CONSTRAINT clocks_one_per_case;
ALTER TABLE clocks ADD CONSTRAINT clocks_one_per_case UNIQUE (case_id, code, callback_id);
