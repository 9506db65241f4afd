-- Singleton fencing (issue 17): jobs that must run on one worker replica at a time (the wake
-- scheduler, the ordered consumers) hold a lease in JetStream KV; its revision is their fencing
-- token. A new holder records its token here before it acts, and every side effect checks, in its
-- own transaction, that the token it holds is still the newest: a replica that lost its lease
-- (paused, partitioned) can no longer write after a successor took over. Revisions restart when
-- the bucket is made anew (a new bus, disaster recovery): the bucket's creation time (epoch) ranks
-- first, so a new bucket's tokens outrank an old one's instead of being refused forever.
CREATE TABLE singleton_fences (
    name text PRIMARY KEY,
    epoch bigint NOT NULL,
    token bigint NOT NULL CHECK (token > 0),
    holder text NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);
