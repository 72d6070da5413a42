-- 010: every idempotency key intake has stored, once, whether it registered a case or
-- a further report: the one place where two store workers or two intake instances
-- sending the same key at the same moment meet. A transaction that inserts a key
-- someone else stored first fails (unique violation) and is retried, and the retry
-- answers with what the first stored (REPEATED). Written by intake only; its references
-- are checked at commit, as intake claims a key before it writes the case or report.
CREATE TABLE idempotency_keys (
  external_source text NOT NULL,
  external_id     text NOT NULL,
  case_id         bigint NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
  report_id       bigint REFERENCES case_reports (id) DEFERRABLE INITIALLY DEFERRED,  -- NULL: the key registered the case
  PRIMARY KEY (external_source, external_id)
);
-- Keys stored before this table: a case's own first, then reports' (a key stored both
-- ways by the race this table closes keeps answering with its case).
INSERT INTO idempotency_keys (external_source, external_id, case_id, report_id)
  SELECT external_source, external_id, id, NULL FROM cases;
INSERT INTO idempotency_keys (external_source, external_id, case_id, report_id)
  SELECT external_source, external_id, case_id, id FROM case_reports ORDER BY id
  ON CONFLICT DO NOTHING;
