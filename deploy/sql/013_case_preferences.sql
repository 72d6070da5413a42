-- 013: the customer's callback preferences kept with the case (Case.preferences, a packed
-- caseloop.v1.CustomerPreferences); NULL when the submission gave none.
ALTER TABLE cases
  ADD COLUMN preferences bytea;
