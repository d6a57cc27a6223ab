/* fuzz_app.h - the app the fuzz targets serve: a few routes that reach the
 * parts of the core and the framework that read request bytes (JSON bodies,
 * forms, schema validation of params, query, headers and body, streaming,
 * errors). */
#ifndef CRATER_FUZZ_APP_H
#define CRATER_FUZZ_APP_H

static const char fuzz_app_lua[] =
  "local crater = require 'crater'\n"
  "local s = require 'crater.schema'\n"
  "local app = crater.app { title = 'fuzz' }\n"
  "app:get('/', function() return 'hello' end)\n"
  "app:post('/echo', function(req) return req:json() end)\n"
  "app:put('/raw', function(req) return 200, req.body, { ['Content-Type'] = 'application/octet-stream' } end)\n"
  "app:get('/items/{id}', {\n"
  "  params = { id = s.integer { minimum = 1 } },\n"
  "  query = { limit = s.integer { minimum = 1, maximum = 100, default = 10 },\n"
  "            tag = s.array(s.string { maxLength = 5 }, { default = {} }) },\n"
  "  headers = { ['X-Count'] = s.optional(s.integer { minimum = 0 }) },\n"
  "}, function(req) return { id = req.params.id, q = req.query, h = req.headers['x-count'] } end)\n"
  "local Thing = s.object { name = s.string { minLength = 1, maxLength = 10 },\n"
  "  size = s.integer { minimum = 1 }, color = s.enum { 'red', 'green' },\n"
  "  labels = s.array(s.string(), { maxItems = 2, default = {} }) }\n"
  "app:post('/things', { body = Thing, responses = { [201] = Thing } },\n"
  "  function(req) return 201, req.body end)\n"
  "app:get('/stream/{n}', function(req)\n"
  "  local n = math.min(tonumber(req.params.n) or 0, 20)\n"
  "  return crater.stream(function(write) for i = 1, n do write('chunk ' .. i .. '\\n') end end)\n"
  "end)\n"
  "-- Big answers outgrow the socket buffer: the queued-write paths of conn.c.\n"
  "app:get('/big/{n}', function(req)\n"
  "  return string.rep('x', math.min(tonumber(req.params.n) or 0, 512) * 1024)\n"
  "end)\n"
  "app:get('/bigstream/{n}', function(req)\n"
  "  local n, piece = math.min(tonumber(req.params.n) or 0, 16), string.rep('y', 32768)\n"
  "  return crater.stream(function(write) for _ = 1, n do write(piece) end end)\n"
  "end)\n"
  "app:get('/headers', function(req) return { h = req.headers, from = req.remote_addr } end)\n"
  "app:get('/files/{path...}', function(req) return { path = req.params.path, q = req.query } end)\n"
  "app:get('/fail', function() error('handler failed') end)\n"
  "-- A form, urlencoded or multipart (parsed by the core as it streams in).\n"
  "app:post('/form', function(req)\n"
  "  local n = 0\n"
  "  for _, f in ipairs(req.files) do n = n + #(f:read() or '') + f.size end\n"
  "  return { form = req.form, n = n }\n"
  "end)\n"
  "-- What a request says, returned as the answer's status and headers: the\n"
  "-- header rule (RFC 9110 5.1, 5.5) must refuse whatever would split it.\n"
  "app:get('/reflect', function(req)\n"
  "  local q = req.query\n"
  "  return tonumber(q.s) or 200, 'r', { [q.n or 'X-R'] = q.v or '', ['Content-Type'] = q.t }\n"
  "end)\n"
  "app:get('/reflect/cookie', function(req)\n"
  "  local q, res = req.query, crater.response('c')\n"
  "  res:set_cookie(q.n or 'c', q.v or '1', { path = q.p, domain = q.d, same_site = q.s })\n"
  "  return res\n"
  "end)\n"
  "app:get('/reflect/stream', function(req)\n"
  "  return crater.stream(function(write) write('s') end, 200, { ['X-R'] = req.query.v })\n"
  "end)\n"
  "return app\n";

/* Each target defines FUZZ_NAME before including this file. */
static void fail(const char *what, const char *detail) {
  fprintf(stderr, FUZZ_NAME ": %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

static void quiet(void *udata, crater_log_level level, const char *line) {
  (void)udata;
  (void)level;
  (void)line;
}

/* A server on loop serving the app above, its log silenced; aborts on failure. */
static crater_server *fuzz_app_start(uv_loop_t *loop, crater_config cfg) {
  crater_server *srv;
  cfg.log_cb = quiet;
  if (uv_loop_init(loop) != 0) fail("uv_loop_init", NULL);
  if (crater_new(&srv, loop, &cfg) != 0) fail("crater_new", NULL);
  if (crater_load_string(srv, "fuzz_app", fuzz_app_lua, sizeof(fuzz_app_lua) - 1) != 0)
    fail("load", crater_last_error(srv));
  return srv;
}

#endif
