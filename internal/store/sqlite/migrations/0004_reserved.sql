-- Placeholder for account scoping (branch xacct), so that 0005 applies
-- in order on this branch; removed when that migration lands.
SELECT 1;
