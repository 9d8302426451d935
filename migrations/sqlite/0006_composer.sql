-- In a cluster, the node composing a stopped recording claims it first, so that two nodes never
-- compose the same one; a job whose composer is gone may be claimed by another node.
ALTER TABLE recordings ADD COLUMN composer TEXT;
