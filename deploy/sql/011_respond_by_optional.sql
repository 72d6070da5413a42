-- 011: a case is promised nothing when its site had no policy at receipt, or no active
-- promise clock (R-IN-2): respond_by is then NULL.
ALTER TABLE cases
  ALTER COLUMN respond_by DROP NOT NULL;
