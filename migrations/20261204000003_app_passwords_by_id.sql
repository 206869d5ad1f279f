-- App passwords that name themselves (issue 9): the text a member types carries a public id,
-- so a node checks at most one app password per login, found by id, and its 150-bit random
-- secret is verified with SHA-256 (`password_hash` holds `sha256:<hex>`). An app password may be
-- bound to one mailbox of its member.

alter table app_passwords
    add column public_id text unique check (public_id ~ '^[a-kmnp-z2-9]{10}$'),
    add column mailbox_id uuid;

-- The argon2id app passwords made before cannot be found by id, and checking them cost one
-- argon2id hash per app password at every failed login: they are revoked, with an audit entry
-- each. Members make new ones on their security page.
insert into audit_log (action, subject_member_id, details)
select 'app_password.revoke', member_id,
       jsonb_build_object('app_password', id, 'reason', 'replaced by app passwords that name themselves')
from app_passwords where revoked_at is null;
update app_passwords set revoked_at = now() where revoked_at is null;

-- From now on every active app password names itself.
alter table app_passwords add constraint app_passwords_self_naming
    check (revoked_at is not null or (public_id is not null and password_hash like 'sha256:%'));

-- A bound app password belongs to a mailbox of its own member, and goes with that mailbox.
create unique index mailboxes_id_member_idx on mailboxes (id, member_id);
alter table app_passwords add constraint app_passwords_mailbox_fkey
    foreign key (mailbox_id, member_id) references mailboxes (id, member_id) on delete cascade;
create index app_passwords_mailbox_idx on app_passwords (mailbox_id) where mailbox_id is not null;
