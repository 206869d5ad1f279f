-- Which of a member's addresses are public: WebFinger (RFC 7033) on the node answers for a
-- mailbox or an XMPP account only when its member marked it public. Nothing is public unless
-- its member says so.
--
-- No trigger changes: an update of a mailbox bumps its member's node unless only the usage
-- columns changed (`*_mail_status.sql`), and any update of an XMPP account bumps it
-- (`*_placement.sql`), each writing the member's row of `node_changes` (`*_node_changes.sql`),
-- so a change of `public` reaches the node as that member's part of its next delta.

alter table mailboxes add column public boolean not null default false;
alter table xmpp_accounts add column public boolean not null default false;
