-- Node credentials can be revoked and rotated (issue 9).
-- A node is waiting to join (join token only), joined (credential only), rotating (its
-- credential still works and a new join token is out: the next join replaces the credential),
-- or revoked (neither: its polls and heartbeats get 401 until an admin rotates and it joins
-- again). The old check allowed only the first two.
alter table nodes add column credential_revoked_at timestamptz;
alter table nodes drop constraint nodes_check;
alter table nodes add constraint nodes_credential_state
    check (join_token_hash is not null or credential_hash is not null
           or credential_revoked_at is not null);
