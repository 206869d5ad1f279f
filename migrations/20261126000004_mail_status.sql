-- What nodes report about the mail they serve: each domain's DKIM public key (the node makes the
-- key pair; the private half never leaves it) and how much each mailbox stores. Nodes write these
-- in every heartbeat, so none of it may bump the desired generation: a node's own report must
-- not wake its own long poll.

-- One row per domain: the key the node signs with now. A new selector replaces the row, so the
-- portal shows exactly one record to publish.
create table dkim_keys (
    domain_id uuid primary key references domains (id) on delete cascade,
    -- A DNS label: the record is <selector>._domainkey.<domain>.
    selector text not null check (selector ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    -- Base64 SubjectPublicKeyInfo (DER), the p= tag. Its alphabet cannot break out of a TXT
    -- string; the length bound keeps the record within what DNS and the pages can carry.
    public_key text not null
        check (length(public_key) between 100 and 2000 and public_key ~ '^[A-Za-z0-9+/]+={0,2}$'),
    -- The node that reported it. Shown only while that node hosts the domain's member: after a
    -- move, the new node's key is the one that signs.
    node_id uuid not null references nodes (id) on delete cascade,
    -- When the key was first reported, or last re-confirmed (at most every few minutes).
    reported_at timestamptz not null default now()
);
create index dkim_keys_node_idx on dkim_keys (node_id);

-- Null until the hosting node first measures the mailbox.
alter table mailboxes add column used_bytes bigint check (used_bytes >= 0);
alter table mailboxes add column used_messages bigint check (used_messages >= 0);
alter table mailboxes add column usage_at timestamptz;

-- The placement trigger fired on any update of a mailbox, so a usage report would have bumped the
-- node's generation every 30 s. Updates now bump only when something other than the usage
-- columns changed. The comparison drops the usage columns rather than listing the others
-- (`update of ...`), so a column added later bumps by default and nobody has to remember this.
drop trigger mailboxes_bump on mailboxes;
create trigger mailboxes_bump after insert or delete on mailboxes
    for each row execute function ruche_bump_for_member_row();
create trigger mailboxes_bump_update after update on mailboxes
    for each row
    when ((to_jsonb(old) - array['used_bytes', 'used_messages', 'usage_at'])
          is distinct from (to_jsonb(new) - array['used_bytes', 'used_messages', 'usage_at']))
    execute function ruche_bump_for_member_row();
