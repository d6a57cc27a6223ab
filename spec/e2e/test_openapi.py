"""The OpenAPI 3.1 document (/openapi.json and `crater openapi`), checked
for content and by independent validators from npm (@redocly/cli for the
document, ajv for the server's real error answers against the document's
schemas); the docs pages with their locally served assets, the paths
being configurable, static-file safety, and one real browser (headless
Chromium) rendering /docs offline."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import ASAN, BIN, ROOT, Server, example, needs, run

TOOLS = os.environ.get("CRATER_TOOLS", "/usr/local/share/crater/tools")
ASSETS = os.environ.get("CRATER_ASSETS", "/usr/local/share/crater/assets")
REDOCLY = os.path.join(TOOLS, "node_modules", ".bin", "redocly")
AJV = os.path.join(TOOLS, "node_modules", "ajv", "dist", "2020.js")
SWAGGER_DIR = os.path.join(ASSETS, "node_modules", "swagger-ui-dist")
REDOC_DIR = os.path.join(ASSETS, "node_modules", "redoc", "bundles")
CUSTOM = os.path.join(ROOT, "spec", "e2e", "apps", "openapi_custom.lua")
ARTIFACTS = os.path.join(ROOT, "build", "artifacts")

REDOCLY_CONFIG = """extends:
  - recommended-strict
rules:
  security-defined: off
  info-license: off
  operation-4xx-response: off
  operation-summary: off
"""

AJV_SCRIPT = r"""
const Ajv2020 = require(process.argv[2]).default;
const doc = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
const cases = JSON.parse(require("fs").readFileSync(process.argv[4], "utf8"));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
let bad = 0;
for (const [ref, value] of cases) {
  const v = ajv.compile({ $ref: ref, components: doc.components });
  if (!v(value)) { bad++; console.log(ref, JSON.stringify(value), JSON.stringify(v.errors)); }
}
process.exit(bad ? 1 : 0);
"""


def lint(*docs):
    """Runs redocly lint once over documents (texts); returns (ok, output)."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "redocly.yaml"), "w") as f:
            f.write(REDOCLY_CONFIG)
        names = []
        for i, text in enumerate(docs):
            names.append("openapi%d.json" % i)
            with open(os.path.join(d, names[-1]), "w") as f:
                f.write(text)
        out = subprocess.run([REDOCLY, "lint", *names], cwd=d, capture_output=True, timeout=120)
        text = (out.stdout + out.stderr).decode(errors="replace")
        return out.returncode == 0, text


def openapi_cli(app):
    return subprocess.run([BIN, "openapi", app], capture_output=True, cwd=ROOT, timeout=60)



class TodoDocument(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(example("todo-api", "app.lua"), env={"DATABASE_URL": "sqlite::memory:"})
        st, h, body = cls.srv.get("/openapi.json")
        assert st == 200, body
        cls.headers, cls.text, cls.doc = h, body.decode(), json.loads(body)

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    def op(self, method, path):
        return self.doc["paths"][path][method]

    def test_served_as_json(self):
        self.assertEqual(self.headers["content-type"], "application/json")

    def test_info_and_version(self):
        d = self.doc
        self.assertEqual(d["openapi"], "3.1.0")
        self.assertEqual(d["info"]["title"], "Todo API")
        self.assertEqual(d["info"]["version"], "1.0.0")
        self.assertIn("to-do", d["info"]["description"])
        self.assertEqual(d["tags"], [{"name": "todos", "description": "Everything about to-dos"}])

    def test_paths_methods_operation_ids(self):
        d = self.doc
        self.assertEqual(list(d["paths"]), ["/todos", "/todos/{id}"])
        self.assertEqual(sorted(d["paths"]["/todos/{id}"]), ["delete", "get", "patch", "put"])
        ids = [op["operationId"] for p in d["paths"].values() for op in p.values()]
        self.assertEqual(sorted(ids), sorted(["listTodos", "createTodo", "getTodo", "replaceTodo",
                                              "updateTodo", "deleteTodo"]))
        for p in d["paths"].values():
            for op in p.values():
                self.assertEqual(op["tags"], ["todos"])
                self.assertTrue(op["summary"])
        # docs routes are not operations of the app
        for p in ("/openapi.json", "/docs", "/redoc"):
            self.assertNotIn(p, d["paths"])

    def test_parameters(self):
        params = {(p["in"], p["name"]): p for p in self.op("get", "/todos")["parameters"]}
        self.assertEqual(sorted(params), [("query", "done"), ("query", "limit"), ("query", "offset"), ("query", "tag")])
        self.assertEqual(params[("query", "limit")]["schema"], {"type": "integer", "minimum": 1, "maximum": 100, "default": 20})
        self.assertNotIn("required", params[("query", "limit")])
        self.assertEqual(params[("query", "tag")]["schema"]["type"], "array")
        (pid,) = self.op("get", "/todos/{id}")["parameters"]
        self.assertEqual((pid["in"], pid["name"], pid["required"]), ("path", "id", True))
        self.assertEqual(pid["schema"]["type"], "integer")
        self.assertEqual(pid["description"], "the to-do's id")
        (hdr,) = self.op("post", "/todos")["parameters"]
        self.assertEqual((hdr["in"], hdr["name"]), ("header", "X-Dry-Run"))
        self.assertEqual(hdr["schema"]["type"], "boolean")

    def test_request_body_and_responses(self):
        post = self.op("post", "/todos")
        self.assertEqual(post["requestBody"], {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/TodoIn"}}}})
        r = post["responses"]
        self.assertEqual(sorted(r), ["201", "400", "409", "415", "422"])
        self.assertEqual(r["201"]["content"]["application/json"]["schema"], {"$ref": "#/components/schemas/Todo"})
        for code in ("400", "409", "415", "422"):
            self.assertEqual(r[code]["content"], {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}, code)
        self.assertEqual(r["409"]["description"], "A to-do with this title exists")
        get = self.op("get", "/todos/{id}")["responses"]
        self.assertEqual(sorted(get), ["200", "404", "422"])  # no body: no 400/415
        delete = self.op("delete", "/todos/{id}")["responses"]
        self.assertEqual(delete["204"], {"description": "Deleted"})

    def test_components(self):
        schemas = self.doc["components"]["schemas"]
        self.assertEqual(list(schemas), ["TodoIn", "TodoPatch", "Todo", "TodoList", "Problem", "ValidationError"])
        self.assertNotIn("owner_token", schemas["Todo"]["properties"])
        self.assertEqual(schemas["TodoList"]["properties"]["items"]["items"], {"$ref": "#/components/schemas/Todo"})
        self.assertEqual(schemas["TodoIn"]["properties"]["tags"]["default"], [])
        self.assertEqual(sorted(schemas["TodoIn"]["required"]), ["title"])
        self.assertEqual(schemas["Problem"]["properties"]["errors"]["items"],
                         {"$ref": "#/components/schemas/ValidationError"})

    def test_cli_prints_the_same_document(self):
        out = openapi_cli(example("todo-api", "app.lua"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.decode(), self.text)

    @needs(os.path.exists(REDOCLY), "@redocly/cli not installed (.ci/setup-npm.sh)")
    def test_independent_validator_accepts_examples(self):
        docs = [self.text]
        for app in (example("hello", "app.lua"), example("bench", "app.lua"), CUSTOM, SchemasByURI.APP):
            out = openapi_cli(app)
            self.assertEqual(out.returncode, 0, out.stderr)
            docs.append(out.stdout.decode())
        ok, text = lint(*docs)
        self.assertTrue(ok, "todo-api, hello, bench, openapi_custom, openapi_refs (in that order):\n" + text)
        self.assertEqual(text.count("validated in"), 5, text)

    @needs(os.path.exists(REDOCLY), "@redocly/cli not installed (.ci/setup-npm.sh)")
    def test_independent_validator_rejects_a_broken_document(self):
        broken = dict(self.doc)
        broken["paths"] = {"/todos/{id}": {"get": {"responses": {"200": {"description": "x"}}}}}
        ok, text = lint(json.dumps(broken))
        self.assertFalse(ok, "a path parameter without a declaration must be refused:\n" + text)

    @needs(os.path.exists(AJV), "ajv not installed (.ci/setup-npm.sh)")
    def test_real_error_answers_match_the_documented_schema(self):
        answers = [
            self.srv.request("POST", "/todos", body='{"title":"","done":"no"}',
                             headers={"Content-Type": "application/json"}),
            self.srv.request("POST", "/todos", body='{"title":', headers={"Content-Type": "application/json"}),
            self.srv.request("POST", "/todos", body="x", headers={"Content-Type": "text/plain"}),
            self.srv.get("/todos/999"),
            self.srv.get("/todos/abc"),
            self.srv.get("/todos?limit=0&done=maybe"),
        ]
        statuses = [a[0] for a in answers]
        self.assertEqual(statuses, [422, 400, 415, 404, 422, 422])
        cases = [["#/components/schemas/Problem", json.loads(a[2])] for a in answers]
        st, _, body = self.srv.request("POST", "/todos", body='{"title":"ajv","tags":["x"]}',
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(st, 201)
        cases.append(["#/components/schemas/Todo", json.loads(body)])
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name, data in (("check.js", AJV_SCRIPT), ("doc.json", self.text), ("cases.json", json.dumps(cases))):
                paths.append(os.path.join(d, name))
                with open(paths[-1], "w") as f:
                    f.write(data)
            out = subprocess.run(["node", paths[0], AJV, paths[1], paths[2]], capture_output=True, timeout=60)
            self.assertEqual(out.returncode, 0, (out.stdout + out.stderr).decode())


class SchemasByURI(unittest.TestCase):
    """App schemas with $id, referred to by URI from routes and from each
    other: the server validates through them, /openapi.json bundles them
    into components and redocly accepts it."""

    APP = os.path.join(ROOT, "spec", "e2e", "apps", "openapi_refs.lua")

    def test_server_validates_through_refs_by_uri(self):
        with Server(self.APP) as srv:
            json_h = {"Content-Type": "application/json"}
            good = {"name": "Ada", "address": {"zip": "12345", "city": "Paris"}}
            st, _, body = srv.request("POST", "/customers", body=json.dumps(good), headers=json_h)
            self.assertEqual((st, json.loads(body)), (201, good))
            bad = {"name": "", "address": {"zip": "123"}}
            st, h, body = srv.request("POST", "/customers", body=json.dumps(bad), headers=json_h)
            self.assertEqual((st, h["content-type"]), (422, "application/problem+json"))
            self.assertIn("/address/zip", body.decode())
            self.assertIn("/name", body.decode())
            self.assertEqual(srv.get("/zips/12345")[0], 200)
            self.assertEqual(srv.get("/zips/123")[0], 422)
            # refused requests leave the server serving
            self.assertEqual(srv.request("POST", "/customers", body="{", headers=json_h)[0], 400)
            self.assertEqual(srv.request("POST", "/customers", body=json.dumps(good), headers=json_h)[0], 201)

    def test_document_bundles_id_schemas_into_components(self):
        out = openapi_cli(self.APP)
        self.assertEqual(out.returncode, 0, out.stderr)
        doc = json.loads(out.stdout)
        comps = doc["components"]["schemas"]
        self.assertNotIn("$id", comps["Address"])
        self.assertEqual(comps["Address"]["properties"]["zip"], {"$ref": "#/components/schemas/Address/$defs/zip"})
        self.assertEqual(comps["Customer"]["properties"]["address"], {"$ref": "#/components/schemas/Address"})
        post = doc["paths"]["/customers"]["post"]
        self.assertEqual(post["requestBody"]["content"]["application/json"]["schema"],
                         {"$ref": "#/components/schemas/Customer"})
        zip_param = doc["paths"]["/zips/{zip}"]["get"]["parameters"][0]
        self.assertEqual(zip_param["schema"], {"$ref": "#/components/schemas/Address/$defs/zip"})


class DocsPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(example("todo-api", "app.lua"), env={"DATABASE_URL": "sqlite::memory:"})

    @classmethod
    def tearDownClass(cls):
        assert cls.srv.stop() == 0

    @needs(os.path.isdir(SWAGGER_DIR), "swagger-ui-dist not installed")
    def test_swagger_page_uses_local_assets(self):
        st, h, body = self.srv.get("/docs")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        page = body.decode()
        self.assertIn('src="/docs/assets/swagger-ui-bundle.js"', page)
        self.assertIn('href="/docs/assets/swagger-ui.css"', page)
        self.assertIn('url: "/openapi.json"', page)
        self.assertNotIn("https://", page)
        self.assertIn("<title>Todo API - Swagger UI</title>", page)

    @needs(os.path.isdir(SWAGGER_DIR), "swagger-ui-dist not installed")
    def test_assets_served_byte_for_byte(self):
        for url, path, ctype in (
            ("/docs/assets/swagger-ui-bundle.js", os.path.join(SWAGGER_DIR, "swagger-ui-bundle.js"), "text/javascript"),
            ("/docs/assets/swagger-ui.css", os.path.join(SWAGGER_DIR, "swagger-ui.css"), "text/css"),
            ("/docs/assets/favicon-32x32.png", os.path.join(SWAGGER_DIR, "favicon-32x32.png"), "image/png"),
            ("/redoc/assets/redoc.standalone.js", os.path.join(REDOC_DIR, "redoc.standalone.js"), "text/javascript"),
        ):
            st, h, body = self.srv.get(url)
            self.assertEqual(st, 200, url)
            self.assertTrue(h["content-type"].startswith(ctype), h["content-type"])
            self.assertIn("max-age", h["cache-control"])
            with open(path, "rb") as f:
                self.assertEqual(body, f.read(), url)

    @needs(os.path.isdir(REDOC_DIR), "redoc not installed")
    def test_redoc_page_uses_local_assets(self):
        st, _, body = self.srv.get("/redoc")
        self.assertEqual(st, 200)
        page = body.decode()
        self.assertIn('<redoc spec-url="/openapi.json"></redoc>', page)
        self.assertIn('src="/redoc/assets/redoc.standalone.js"', page)
        self.assertNotIn("https://", page)

    def test_asset_paths_cannot_escape(self):
        attempts = [
            "/docs/assets/../../../../etc/passwd",
            "/docs/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
            "/docs/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/docs/assets/..",
            "/docs/assets/%2e%2e",
            "/docs/assets/package.json",          # in the package folder, not a page asset
            "/docs/assets/index.html",
            "/docs/assets/swagger-ui-bundle.js.map",
            "/docs/assets/swagger-ui-bundle.js%00",
            "/docs/assets/swagger-ui-bundle.js/",
            "/docs/assets//etc/passwd",
            "/docs/assets/%2fetc%2fpasswd",
            "/redoc/assets/..%2f..%2fpackage.json",
            "/redoc/assets/..%5c..%5cpackage.json",
            "/docs/assets/",
        ]
        for path in attempts:
            raw = self.srv.raw(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            status = int(raw.split(b" ", 2)[1])
            self.assertIn(status, (400, 404), (path, raw[:200]))
            self.assertNotIn(b"root:", raw, path)
            self.assertNotIn(b'"name": "swagger-ui-dist"', raw, path)
        self.assertEqual(self.srv.get("/docs")[0], 200)  # still serving

    @needs(shutil.which("chromium") and os.path.isdir(SWAGGER_DIR),
                         "chromium or swagger-ui-dist not installed (.ci/setup.sh)")
    def test_browser_renders_docs_offline(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "docs-swagger%s.png" % ("-asan" if ASAN else ""))
        # one run: the DOM after the scripts ran, and a picture of the page
        dom = self.chromium("/docs", "--dump-dom", "--screenshot=" + shot, "--window-size=1280,1400")
        self.assertIn("Todo API", dom)
        self.assertEqual(dom.count('class="opblock-summary-path"'), 6, dom[:2000])
        for text in ("List to-dos", "Create a to-do", "Read a to-do", "Replace a to-do",
                     "Change some fields of a to-do", "Delete a to-do"):
            self.assertIn(text, dom)
        for method in ("get", "post", "put", "patch", "delete"):
            self.assertIn("opblock-" + method, dom)
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    @needs(shutil.which("chromium") and os.path.isdir(REDOC_DIR),
                         "chromium or redoc not installed (.ci/setup.sh)")
    def test_browser_renders_redoc_offline(self):
        dom = self.chromium("/redoc", "--dump-dom")
        for text in ("Todo API", "List to-dos", "Create a to-do", "Delete a to-do"):
            self.assertIn(text, dom)

    def chromium(self, path, *args):
        """Headless Chromium that can reach nothing but this machine, so
        the page renders only if its assets are served locally."""
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run([
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--user-data-dir=" + profile,
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000", *args, self.srv.url(path)],
                capture_output=True, timeout=90)
            self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")[-2000:])
            return out.stdout.decode(errors="replace")


class Options(unittest.TestCase):
    def test_paths_moved_turned_off_and_cdn_fallback(self):
        with Server(CUSTOM) as srv:
            self.assertEqual(srv.get("/openapi.json")[0], 404)
            self.assertEqual(srv.get("/docs")[0], 404)
            st, _, body = srv.get("/redoc")
            self.assertEqual((st, body), (200, b"the app's own /redoc"))
            st, _, body = srv.get("/api/spec.json")
            self.assertEqual(st, 200)
            doc = json.loads(body)
            self.assertEqual(doc["info"]["license"], {"name": "MIT", "identifier": "MIT"})
            self.assertEqual(doc["servers"], [{"url": "/"}])
            st, _, page = srv.get("/api/docs")
            self.assertEqual(st, 200)
            self.assertIn(b'src="https://cdn.example.test/sui/swagger-ui-bundle.js"', page)
            self.assertIn(b'url: "/api/spec.json"', page)
            self.assertEqual(srv.get("/api/docs/assets/swagger-ui-bundle.js")[0], 404)

    def test_custom_error_format_in_document_and_answers(self):
        with Server(CUSTOM) as srv:
            doc = json.loads(srv.get("/api/spec.json")[2])
            r422 = doc["paths"]["/n/{n}"]["get"]["responses"]["422"]
            self.assertEqual(r422, {"description": "Invalid input", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/MyError"}}}})
            self.assertIn("MyError", doc["components"]["schemas"])
            self.assertNotIn("Problem", doc["components"]["schemas"])
            st, h, body = srv.get("/n/abc")
            self.assertEqual((st, h["content-type"]), (422, "application/json"))
            self.assertEqual(json.loads(body), {"code": "invalid", "problems": [
                {"where": "params/n", "what": json.loads(body)["problems"][0]["what"]}]})
            # generated operationId, catch-all documented as a plain parameter
            self.assertEqual(doc["paths"]["/n/{n}"]["get"]["operationId"], "getNByN")
            files = doc["paths"]["/files/{path}"]["get"]
            self.assertEqual(files["operationId"], "getFile")
            self.assertEqual(files["parameters"], [{"name": "path", "in": "path", "required": True,
                                                    "schema": {"type": "string"}}])

    def test_openapi_false_serves_nothing(self):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write('local app = require("crater").app { openapi = false }\n'
                    'app:get("/x", function() return "x" end)\nreturn app\n')
        try:
            with Server(f.name) as srv:
                for p in ("/openapi.json", "/docs", "/redoc", "/docs/assets/swagger-ui.css"):
                    self.assertEqual(srv.get(p)[0], 404, p)
                self.assertEqual(srv.get("/x")[0], 200)
            out = openapi_cli(f.name)  # the command still prints the document
            self.assertEqual(out.returncode, 0)
            self.assertEqual(json.loads(out.stdout)["paths"]["/x"]["get"]["responses"], {"200": {"description": "OK"}})
        finally:
            os.unlink(f.name)

    def test_assets_flag(self):
        # A folder of our own holding a (fake) swagger-ui-dist: --assets wins
        # over the installed packages, for the page and the files.
        with tempfile.TemporaryDirectory() as d:
            pkg = os.path.join(d, "swagger-ui-dist")
            os.makedirs(pkg)
            for name, text in (("swagger-ui-bundle.js", "/* from --assets */"),
                               ("swagger-ui.css", "/* css from --assets */")):
                with open(os.path.join(pkg, name), "w") as f:
                    f.write(text)
            with Server(example("todo-api", "app.lua"), "--assets", d) as srv:
                st, h, body = srv.get("/docs/assets/swagger-ui-bundle.js")
                self.assertEqual((st, body), (200, b"/* from --assets */"))
                self.assertTrue(h["content-type"].startswith("text/javascript"))
                self.assertIn(b'src="/docs/assets/swagger-ui-bundle.js"', srv.get("/docs")[2])
        for bad in ("/nonexistent/assets", os.path.join(ROOT, "README.md")):
            out = subprocess.run([BIN, "--assets", bad, example("todo-api", "app.lua")], capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 2)
            self.assertIn(("invalid value for --assets: '%s' (expected an existing directory)" % bad).encode(),
                          out.stderr)

    def test_cli_errors(self):
        out = openapi_cli("/nonexistent/app.lua")
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"cannot read app", out.stderr)


if __name__ == "__main__":
    run()
