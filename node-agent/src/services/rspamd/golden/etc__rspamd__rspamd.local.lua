-- Rendered by the Ruche node agent; do not edit: it is rewritten on every change.
--
-- What every member's outbound mail goes through (rspamd as the milter of Postfix's
-- submission services), and the count of what members' aliases forward:
--
-- 1. The `ruche_member` selector: the member of the authenticated mailbox, the owner of its
--    domain (domains.map), so that the outbound rate limit counts every mailbox of a member in
--    one bucket. A login whose domain is missing from the map (none should authenticate) is
--    limited on its own rather than not at all. Unauthenticated mail has no value, so the limit
--    does not apply to it.
--
-- 2. The RUCHE_FOREIGN_SENDER prefilter: authenticated mail is rejected unless its envelope
--    sender is not null, it has exactly one From header with exactly one address, at most one
--    Sender header with one address, and each of these addresses is at a domain of the login's
--    own member (domains.map). Members sharing a node are adversaries: this is what keeps one
--    from sending, and rspamd from signing, as another's domain. Postfix's
--    reject_sender_login_mismatch checks the envelope only, and not the null sender at all.
--
-- 3. The `ruche_forwarders` selector: the members whose aliases or catch-alls send this
--    message off the node (forwards.map, rendered from Postfix's alias table), one value per
--    member, so the forwarding limit counts a message once per member it makes forward. As
--    Postfix does: the address without its +tag, then the whole domain (a catch-all); `-`
--    marks an address that stays here.
--
-- 4. The DKIM key of authenticated mail: once the prefilter let a message through, it names the
--    selector (selectors.map) and key file (paths.map) of its From domain in the task's
--    `dkim_selector` and `dkim_key` variables, which rspamd's dkim_signing module reads; a domain
--    without both is not signed (dkim_signing.conf gives no other source and no fallback).
local lua_selectors = require "lua_selectors"
local rspamd_util = require "rspamd_util"

-- A map file of `key value` lines, which the agent replaces whole (written aside, renamed over):
-- a function from a key to its value or nil. The file is read again whenever its size or
-- modification time is not what was read last (the agent makes each replacement's time later
-- than the one before). Not rspamd's own maps: a worker that rspamd starts (after a reload)
-- while the file is replaced can keep the contents from before and never see the change, which
-- left a mailbox made at that moment unable to send, and a domain whose key was made at that
-- moment unsigned.
local function file_map(path)
  local entries, seen = {}, nil
  return function(key)
    local err, st = rspamd_util.stat(path)
    if not err and st then
      local stamp = tostring(st.size) .. ":" .. tostring(st.mtime)
      if stamp ~= seen then
        local file = io.open(path, "r")
        if file then
          local fresh = {}
          for line in file:lines() do
            local k, v = string.match(line, "^(%S+)%s+(%S+)%s*$")
            if k and string.sub(k, 1, 1) ~= "#" then
              fresh[k] = v
            end
          end
          file:close()
          entries, seen = fresh, stamp
        end
      end
    end
    return entries[key]
  end
end

local domains = file_map("/srv/ruche/etc/rspamd/ruche/domains.map")
local forwards = file_map("/srv/ruche/etc/rspamd/ruche/forwards.map")
local selectors = file_map("/srv/ruche/etc/rspamd/ruche/selectors.map")
local key_paths = file_map("/srv/ruche/etc/rspamd/ruche/paths.map")

-- The at sign, spelled so that this file holds no address (the renderer's tests check that).
local AT = string.char(64)

local function member_of_login(task)
  local user = task:get_user()
  if not user then
    return nil, nil
  end
  user = string.lower(user)
  -- After the last at sign (the greedy `.+` takes every one before it).
  local domain = string.match(user, "^.+" .. AT .. "(.+)$")
  return user, domain and domains(domain)
end

lua_selectors.register_extractor(rspamd_config, "ruche_member", {
  get_value = function(task)
    local user, member = member_of_login(task)
    if not user then
      return nil
    end
    if member then
      return "member:" .. member, "string"
    end
    return "mailbox:" .. user, "string"
  end,
  description = "Ruche member of the authenticated mailbox",
})

-- The member whose forwarding mail to `rcpt` (an envelope recipient) counts against, or nil.
local function forwarder(rcpt)
  if not rcpt or not rcpt.domain or rcpt.domain == "" then
    return nil
  end
  local user = string.lower(rcpt.user or "")
  local domain = string.lower(rcpt.domain)
  local plus = string.find(user, "+", 1, true)
  if plus then
    user = string.sub(user, 1, plus - 1)
  end
  local member = forwards(user .. AT .. domain) or forwards(AT .. domain)
  if member == nil or member == "-" then
    return nil
  end
  return member
end

lua_selectors.register_extractor(rspamd_config, "ruche_forwarders", {
  get_value = function(task)
    local seen, values = {}, {}
    for _, rcpt in ipairs(task:get_recipients("smtp") or {}) do
      local member = forwarder(rcpt)
      if member and not seen[member] then
        seen[member] = true
        table.insert(values, "forwards:" .. member)
      end
    end
    if #values == 0 then
      return nil
    end
    return values, "string_list"
  end,
  description = "Ruche members whose aliases forward this message off the node",
})

-- The member a domain belongs to, or nil.
local function owner(domain)
  if type(domain) ~= "string" or domain == "" then
    return nil
  end
  return domains(string.lower(domain))
end

-- Why the message may not leave under this login, or nil when it may.
local function foreign_sender(task, member)
  if not member then
    return "the login is not a mailbox of this server"
  end
  local envelope = task:get_from("smtp")
  local sender = envelope and envelope[1]
  if not sender or (sender.addr or "") == "" then
    return "the null sender is for bounces, not for mail you send"
  end
  if owner(sender.domain) ~= member then
    return "the envelope sender is not an address of yours"
  end
  local from_headers = task:get_header_full("From") or {}
  if #from_headers ~= 1 then
    return "a message needs exactly one From header"
  end
  local from = task:get_from("mime") or {}
  if #from ~= 1 then
    return "the From header must hold exactly one address"
  end
  if owner(from[1].domain) ~= member then
    return "the From address is not an address of yours"
  end
  local sender_headers = task:get_header_full("Sender") or {}
  if #sender_headers > 1 then
    return "a message may have one Sender header at most"
  end
  if #sender_headers == 1 then
    local parsed = rspamd_util.parse_mail_address(sender_headers[1].value or "", task:get_mempool())
    if not parsed or #parsed ~= 1 or owner(parsed[1].domain) ~= member then
      return "the Sender address is not an address of yours"
    end
  end
  return nil
end

-- Names the From domain's DKIM selector and key for the dkim_signing module (see 4 above). Only
-- called for mail whose senders are the login's member's, so the From domain is one of its own.
local function sign_with_key_of(task)
  local from = (task:get_from("mime") or {})[1]
  local domain = from and from.domain and string.lower(from.domain)
  if not domain or domain == "" then
    return
  end
  local selector, path = selectors(domain), key_paths(domain)
  if selector and path then
    local pool = task:get_mempool()
    pool:set_variable("dkim_selector", selector)
    pool:set_variable("dkim_key", path)
  end
end

rspamd_config:register_symbol({
  name = "RUCHE_FOREIGN_SENDER",
  type = "prefilter",
  priority = 10,
  callback = function(task)
    local user, member = member_of_login(task)
    if not user then
      return false
    end
    local why = foreign_sender(task, member)
    if why then
      task:insert_result("RUCHE_FOREIGN_SENDER", 1.0, why)
      task:set_pre_result("reject", why, "ruche")
      return true
    end
    sign_with_key_of(task)
    return false
  end,
})
