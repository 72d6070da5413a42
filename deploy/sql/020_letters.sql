-- 020: letters (R-CB-7, seed 000 section 1.10): a reply letter answers an anonymous or
-- reply-letter-only case; an open letter answers many cases of one problem at once, stored
-- once and kept with each case.
CREATE TABLE letters (
  id            bigserial PRIMARY KEY,
  site          text NOT NULL,
  open          boolean NOT NULL,      -- an open letter (many cases), else a reply letter (one)
  sent_by       text NOT NULL,
  body          text,                  -- the letter's text, or
  document_ref  text,                  -- a reference to it as a document
  sent_at       timestamptz NOT NULL,
  CHECK (body IS NOT NULL OR document_ref IS NOT NULL)
);
CREATE TABLE letter_cases (
  letter_id  bigint NOT NULL REFERENCES letters (id),
  case_id    bigint NOT NULL REFERENCES cases (id),
  PRIMARY KEY (case_id, letter_id)
);
-- The open letter that answered a callback (state ANSWERED_BY_LETTER).
ALTER TABLE callbacks ADD COLUMN letter_id bigint REFERENCES letters (id);
