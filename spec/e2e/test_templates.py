"""HTML templates (crater.template, docs/templates.md) over a real socket: a
page rendered with a layout, partials and escaping from the app's folder;
crater.html; a template error answered 500 with a log line naming the
template's file:line (at run time and at compile time) while the server goes
on serving; an edited template picked up by SIGHUP and by --reload."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import BIN, Server, run, wait_for

APP = r'''local crater = require "crater"
local app = crater.app()
local views = crater.template.new { root = "templates" }

app:get("/", function(req)
  return views:html("page.html", { title = "Fortunes", name = req.query.name or "world",
                                   rows = { { id = 1, text = "<b>bold</b> & 'quoted'" }, { id = 2, text = "two" } } })
end)
app:get("/module", function() return crater.template.html("templates/plain.html", { x = 42 }, 201) end)
app:get("/inline", function()
  return crater.html(crater.template.compile("<p>{{ a }}</p>") { a = "<&>" })
end)
app:get("/broken", function() return views:html("broken.html", {}) end)
app:get("/syntax", function() return views:html("syntax.html", {}) end)
app:get("/missing", function() return views:html("nope.html", {}) end)
app:get("/cycle", function() return views:html("cycle.html", {}) end)
app:get("/page/{name}", function(req) return views:html(req.params.name, { x = 1 }) end)
app:get("/ok", function() return "ok" end)
return app
'''

FILES = {
    "templates/base.html": """<!DOCTYPE html>
<html><head><title>{% block title %}Site{% endblock %}</title></head>
<body>{{{ content }}}</body></html>
""",
    "templates/page.html": """{% layout "base.html" %}
{% block title %}{{ title }}{% endblock %}
<h1>Hello {{ name }}</h1>
<table>
{% for _, r in ipairs(rows) do %}
{% include "partials/row.html", r %}
{% end %}
</table>
""",
    "templates/partials/row.html": "<tr><td>{{ id }}</td><td>{{ text }}</td></tr>\n",
    "templates/plain.html": "v1 {{ x }}",
    "templates/broken.html": """<p>
ok so far
{{ user.name }}
</p>
""",
    "templates/syntax.html": "<p>\n{{ 1 + }}\n</p>\n",
    "templates/cycle.html": '{% include "cycle.html" %}',
}

PAGE = """<!DOCTYPE html>
<html><head><title>Fortunes</title></head>
<body>
<h1>Hello %s</h1>
<table>
<tr><td>1</td><td>&lt;b&gt;bold&lt;/b&gt; &amp; &#39;quoted&#39;</td></tr>
<tr><td>2</td><td>two</td></tr>
</table>
</body></html>
"""


class AppDir:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="crater-tmpl-")
        self.write("app.lua", APP)
        for rel, text in FILES.items():
            self.write(rel, text)

    def write(self, rel, text):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = p + ".tmp~"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, p)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Base(unittest.TestCase):
    args = ()

    def setUp(self):
        self.appdir = AppDir()
        self.srv = Server(os.path.join(self.appdir.dir, "app.lua"), *self.args)

    def tearDown(self):
        self.assertEqual(self.srv.stop(), 0, self.srv.log())
        os.unlink(self.srv.log_file.name)
        self.appdir.cleanup()


class Templates(Base):
    def test_page_with_layout_and_partials(self):
        status, headers, body = self.srv.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(body.decode(), PAGE % "world")

    def test_query_value_escaped(self):
        status, _, body = self.srv.get("/?name=%3Cscript%3Ealert(%22x%22)%3C/script%3E")
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), PAGE % "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")

    def test_module_render_and_status(self):
        status, headers, body = self.srv.get("/module")
        self.assertEqual((status, headers["content-type"], body), (201, "text/html; charset=utf-8", b"v1 42"))

    def test_html_helper_with_inline_template(self):
        status, headers, body = self.srv.get("/inline")
        self.assertEqual((status, headers["content-type"], body), (200, "text/html; charset=utf-8",
                                                                   b"<p>&lt;&amp;&gt;</p>"))

    def check_500(self, path, logged):
        status, headers, body = self.srv.get(path)
        self.assertEqual(status, 500)
        self.assertEqual(headers["content-type"], "application/problem+json")
        self.assertNotIn(b"templates/", body)  # no --dev: the detail stays in the log
        self.assertTrue(wait_for(lambda: logged in self.srv.log()), self.srv.log())
        self.assertEqual(self.srv.get("/ok")[2], b"ok")

    def test_runtime_error_names_template_line(self):
        self.check_500("/broken", "GET /broken")
        self.check_500("/broken", "templates/broken.html:3: attempt to index global 'user' (a nil value)")

    def test_syntax_error_names_template_line(self):
        self.check_500("/syntax", "templates/syntax.html:2: unexpected symbol near ')'")

    def test_missing_template(self):
        self.check_500("/missing", "template templates/nope.html: not found")

    def test_include_cycle(self):
        self.check_500("/cycle", "templates/cycle.html:1: include cycle: templates/cycle.html -> templates/cycle.html")

    def test_names_from_the_request_stay_in_the_folder(self):
        self.assertEqual(self.srv.get("/page/plain.html")[2], b"v1 1")
        for path in ("/page/..%2Fapp.lua", "/page/%2Fetc%2Fpasswd", "/page/partials%2F..%2F..%2Fapp.lua"):
            status, _, body = self.srv.get(path)
            self.assertEqual(status, 500, path)
            self.assertNotIn(b"crater", body)
        log = self.srv.log()
        self.assertIn("template name ../app.lua leaves the template folder", log)
        self.assertIn("template name /etc/passwd is not relative", log)
        self.assertEqual(self.srv.get("/ok")[2], b"ok")

    def test_sighup_reads_edited_template(self):
        self.assertEqual(self.srv.get("/module")[2], b"v1 42")
        self.appdir.write("templates/plain.html", "v2 {{ x }}")
        self.assertEqual(self.srv.get("/module")[2], b"v1 42")  # cached in this generation
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.srv.get("/module")[2] == b"v2 42"), self.srv.log())


class TemplatesUnderCraterTest(unittest.TestCase):
    def test_loader_root_is_the_app_files_folder(self):
        """A spec in another folder loads the app: the loader's "templates"
        is still the one beside app.lua (the folder of the file calling
        crater.template.new), not the spec's."""
        appdir = AppDir()
        try:
            appdir.write("spec/page_spec.lua", """
local app = dofile(%r)
local res = require("crater.test").client(app):get("/?name=spec")
assert(res.status == 200, res.status .. " " .. res.body)
assert(res.headers["Content-Type"] == "text/html; charset=utf-8")
assert(res.body == %r, res.body)
""" % (os.path.join(appdir.dir, "app.lua"), PAGE % "spec"))
            out = subprocess.run([BIN, "test", os.path.join(appdir.dir, "spec", "page_spec.lua")],
                                 capture_output=True, timeout=60)
            self.assertEqual(out.returncode, 0, (out.stdout + out.stderr).decode())
        finally:
            appdir.cleanup()


class TemplatesReload(Base):
    args = ("--reload",)

    def test_reload_on_template_edit(self):
        self.assertEqual(self.srv.get("/module")[2], b"v1 42")
        self.assertIn("for changes to *.lua and templates", self.srv.log())
        self.appdir.write("templates/plain.html", "v2 {{ x }}")
        self.assertTrue(wait_for(lambda: self.srv.get("/module")[2] == b"v2 42"), self.srv.log())
        self.appdir.write("templates/partials/row.html", "<li>{{ id }}</li>\n")
        self.assertTrue(wait_for(lambda: b"<li>2</li>" in self.srv.get("/")[2]), self.srv.log())


if __name__ == "__main__":
    run()
