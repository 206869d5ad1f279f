-- Rendered by the Ruche node agent; do not edit: it is rewritten on every change.
--
-- The `ruche_member` selector: the member of the authenticated mailbox, from
-- members.map, so that the outbound rate limit counts every mailbox of a member in
-- one bucket. A login missing from the map (a mailbox created a moment ago) is
-- limited on its own rather than not at all. Unauthenticated mail has no value, so
-- the limit does not apply to it.
local lua_selectors = require "lua_selectors"

local members = rspamd_config:add_map({
  type = "map",
  url = "/srv/ruche/etc/rspamd/ruche/members.map",
  description = "Ruche: mailbox address to member id",
})

lua_selectors.register_extractor(rspamd_config, "ruche_member", {
  get_value = function(task)
    local user = task:get_user()
    if not user then
      return nil
    end
    user = string.lower(user)
    local member = members and members:get_key(user)
    if member then
      return "member:" .. member, "string"
    end
    return "mailbox:" .. user, "string"
  end,
  description = "Ruche member of the authenticated mailbox",
})
