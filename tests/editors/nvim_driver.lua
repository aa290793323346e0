-- Drives a headless Neovim configured by one docs/editors.md snippet (loaded as init.lua):
-- opens each file named in the plan, waits for typemux's diagnostics, asks hover and
-- definition at the plan's positions, and writes what came back as JSON. Works on 0.7+.
local plan = vim.fn.json_decode(table.concat(vim.fn.readfile(vim.env.TYPEMUX_NVIM_PLAN), "\n"))
local timeout = plan.timeout_ms
local out = { version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor), files = {} }

local function clients(buf)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = buf })
  end
  return vim.tbl_values(vim.lsp.buf_get_clients(buf))
end

local function request(buf, method, position)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = position,
  }
  local answers = vim.lsp.buf_request_sync(buf, method, params, timeout)
  local results = {}
  for _, answer in pairs(answers or {}) do
    table.insert(results, answer.result or vim.NIL)
    if answer.err then
      table.insert(results, { error = answer.err.message or tostring(answer.err) })
    end
  end
  return results
end

for _, item in ipairs(plan.files) do
  vim.cmd("edit " .. vim.fn.fnameescape(item.path))
  local buf = vim.api.nvim_get_current_buf()
  local entry = { path = item.path, filetype = vim.bo[buf].filetype }
  entry.attached = vim.wait(timeout, function()
    return #clients(buf) > 0
  end, 100)
  local ids = {}
  for _, client in ipairs(clients(buf)) do
    table.insert(ids, client.id)
    entry.client_name = client.name
    entry.root_dir = client.config.root_dir
  end
  entry.client_ids = ids
  entry.got_diagnostics = vim.wait(timeout, function()
    return #vim.diagnostic.get(buf) > 0
  end, 100)
  entry.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(entry.diagnostics, d.message)
  end
  entry.hover = request(buf, "textDocument/hover", item.hover)
  entry.definition = request(buf, "textDocument/definition", item.definition)
  table.insert(out.files, entry)
end

vim.fn.writefile({ vim.fn.json_encode(out) }, vim.env.TYPEMUX_NVIM_OUT)
vim.cmd("qall!")
