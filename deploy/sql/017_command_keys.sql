-- 017: the idempotency keys of lifecycle commands (CaseCommand source and command_id).

-- A command applied with a key: the command as sent (packed, without its key), so that
-- the key reused with another command is refused, and its outcome, returned to a repeat.
CREATE TABLE command_keys (
  source      text NOT NULL,
  command_id  text NOT NULL,
  command     bytea NOT NULL,
  case_id     bigint NOT NULL REFERENCES cases (id),
  state       smallint NOT NULL,   -- caseloop.v1.CaseState the command left the case in
  position    bigint NOT NULL,     -- its CaseUpdated
  PRIMARY KEY (source, command_id)
);
