-- Strata's tier and L3 figures for prometheus-redis-exporter's --script option: returns
-- INFO tiers and the l3_* fields of INFO persistence as name/value pairs; the exporter
-- publishes each as redis_script_values{key="<name>"}. See docs/configuration.md.
local result = {}
for _, section in ipairs({'tiers', 'persistence'}) do
  local text = redis.call('INFO', section)
  for name, value in string.gmatch(text, '([%w_]+):(%-?[%d%.]+)\r\n') do
    if section == 'tiers' or string.sub(name, 1, 3) == 'l3_' then
      table.insert(result, name)
      table.insert(result, value)
    end
  end
end
return result
