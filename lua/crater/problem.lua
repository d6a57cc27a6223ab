--- crater.problem: the problem+json format (RFC 9457) Crater answers errors
--- with, described as JSON Schema.
--
-- The bodies themselves are built by crater.app (`problem`, `encode_problem`)
-- and crater.route_schema (the `errors` of a 422, the `offset` of a 400).
-- These schemas are what the OpenAPI document declares for those answers,
-- and spec/e2e/test_openapi.py validates real answers against them, so the
-- two cannot drift apart.

local json = require "crater.json"

local array = json.array

local _M = { version = "0.1.0" }

_M.CONTENT_TYPE = "application/problem+json"

--- One entry of a 422's `errors`: where the bad value was, a JSON Pointer to
--- it inside that part, and what is wrong with it.
_M.ValidationError = {
  type = "object",
  required = array { "in", "pointer", "message" },
  properties = {
    ["in"] = { type = "string", enum = array { "params", "query", "headers", "body" },
               description = "the part of the request holding the bad value" },
    pointer = { type = "string", description = "JSON Pointer (RFC 6901) to the value within that part" },
    message = { type = "string" },
    keyword = { type = "string", description = "the JSON Schema keyword that failed" },
  },
}

--- The body of every error Crater answers itself (400, 404, 405, 413, 415,
--- 422, 500, ...) unless the app installs its own error handler.
_M.Problem = {
  type = "object",
  description = "An error, as RFC 9457 problem details",
  required = array { "type", "title", "status" },
  properties = {
    type = { type = "string", description = "a URI naming the problem type; about:blank when it is only the status" },
    title = { type = "string", description = "the status's reason phrase" },
    status = { type = "integer", minimum = 100, maximum = 599 },
    detail = { type = "string", description = "what went wrong with this request" },
    instance = { type = "string" },
    errors = { type = "array", items = _M.ValidationError,
               description = "422: every invalid value in the request, not only the first" },
    offset = { type = "integer", minimum = 1,
               description = "400 for malformed JSON: the 1-based byte offset of the error in the body" },
  },
}

return _M
