-- 018: what the callback-scheduler sends to intake because of a record (R-CB-5: a reopening;
-- R-CB-6: a new case per problem raised), written in the record's transaction and sent after
-- it. Each request carries an idempotency key derived from the callback, so one sent again
-- after a crash is answered as a repeat and changes nothing.
CREATE TABLE callback_outbox (
  id           bigserial PRIMARY KEY,
  callback_id  bigint NOT NULL REFERENCES callbacks (id),
  request      bytea NOT NULL,     -- the caseloop.v1.Envelope to send (CaseCommand or SubmitCase)
  created_at   timestamptz NOT NULL,
  sent_at      timestamptz,        -- when intake answered it; NULL: still to send
  outcome      text                -- intake's answer: the case and its state, or the refusal
);
CREATE INDEX callback_outbox_unsent ON callback_outbox (id) WHERE sent_at IS NULL;
