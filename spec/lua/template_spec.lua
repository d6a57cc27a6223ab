-- crater.template: the compiler (escaping, raw, loops, conditionals,
-- comments, whitespace), includes, layouts, errors naming file:line, the
-- sandbox, files and the cache.
local template = require "crater.template"

local compile = template.compile

local function loader(sources)
  return template.new { sources = sources }
end

-- The error a call raises, as a string.
local function err_of(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("crater.template", function()
  describe("escaping", function()
    it("escapes each of & < > \" ' in {{ }} and <%= %>", function()
      local f = compile("{{ s }}|<%= s %>")
      assert.equal("&amp;|&amp;", f { s = "&" })
      assert.equal("&lt;|&lt;", f { s = "<" })
      assert.equal("&gt;|&gt;", f { s = ">" })
      assert.equal("&quot;|&quot;", f { s = '"' })
      assert.equal("&#39;|&#39;", f { s = "'" })
      assert.equal("a&lt;b&gt;&amp;&quot;c&#39;", compile("{{ s }}") { s = "a<b>&\"c'" })
      assert.equal("plain text é", compile("{{ s }}") { s = "plain text é" })
    end)

    it("leaves {{{ }}} and <%- %> raw", function()
      assert.equal("<b>&</b>|<b>&</b>", compile("{{{ s }}}|<%- s %>") { s = "<b>&</b>" })
    end)

    it("renders nil as nothing, numbers without .0, booleans as text", function()
      local f = compile("[{{ a }}][{{ b }}][{{ c }}][{{ d }}][{{ e }}][{{{ a }}}][{{ big }}]")
      assert.equal("[][3][1.5][false][true][][1000000000000000]",
        f { b = 3.0, c = 1.5, d = false, e = true, big = 1e15 })
      local g = compile("{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{{ f }}}")
      assert.equal("0 -42 99999999999999 -9007199254740991 1e+300 -0.5",
        g { a = -0.0, b = -42, c = 99999999999999, d = -9007199254740991, e = 1e300, f = -0.5 })
    end)

    it("crater.template.escape is the same escaping", function()
      assert.equal("&lt;a href=&quot;x&quot;&gt;", template.escape('<a href="x">'))
      assert.equal("", template.escape(nil))
      assert.equal("42", template.escape(42))
    end)
  end)

  describe("code", function()
    it("runs loops and conditionals in {% %} and <% %>", function()
      local f = compile("{% for i, x in ipairs(xs) do %}{{ i }}={{ x }};{% end %}"
        .. "<% if flag then %>yes<% else %>no<% end %>")
      assert.equal("1=a;2=b;yes", f { xs = { "a", "b" }, flag = true })
      assert.equal("no", f { xs = {}, flag = false })
    end)

    it("lets code define locals used later", function()
      assert.equal("6", compile("{% local n = 0 for _, v in ipairs(t) do n = n + v end %}{{ n }}") { t = { 1, 2, 3 } })
    end)

    it("drops comments {# #} and <%# %>", function()
      assert.equal("ab", compile("a{# not {{ shown }} #}<%# nor this %>b") {})
    end)

    it("skips delimiters inside Lua strings in a tag", function()
      assert.equal("}}|%}", compile('{{ "}}" }}|{{ [[%}]] }}') {})
    end)

    it("removes the line of a code tag standing alone", function()
      local f = compile("<ul>\n  {% for _, x in ipairs(xs) do %}\n  <li>{{ x }}</li>\n  {% end %}\n</ul>\n")
      assert.equal("<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>\n", f { xs = { "a", "b" } })
    end)

    it("trims whitespace with - inside the delimiters", function()
      assert.equal("a|b|c", compile("a  \n {{- '|' -}} \n b {%- x = 1 -%}  |  {#- c -#} c") {})
    end)
  end)

  describe("sandbox", function()
    it("sees the ctx and the safe globals, not the app's", function()
      _G.crater_spec_secret = "leak" -- luacheck: ignore
      local f = compile("[{{ crater_spec_secret }}][{{ string.upper(s) }}][{{ #table.concat(t) }}]"
        .. "[{{ math.max(1, 2) }}][{{ type(os.date) }}][{{ type(io) }}][{{ type(require) }}]")
      assert.equal("[][X][2][2][function][nil][nil]", f { s = "x", t = { "a", "b" } })
      _G.crater_spec_secret = nil -- luacheck: ignore
    end)

    it("keeps a template's assignments to itself", function()
      local f = compile("{% x = (x or 0) + 1 ; string.nope = 1 %}{{ x }}")
      assert.equal("2", f { x = 1 })
      assert.equal("1", f {})
      assert.is_nil(string.nope)
    end)
  end)

  describe("includes", function()
    it("includes with the current context or a given table", function()
      local l = loader {
        ["page.html"] = '<{% include "p.html" %}|{% include "p.html", { who = "you" } %}|<% include("p.html", { who = 1 }) %>>',
        ["p.html"] = "hi {{ who }}",
      }
      assert.equal("<hi me|hi you|hi 1>", l:render("page.html", { who = "me" }))
    end)

    it("includes nested includes", function()
      local l = loader { ["a.html"] = 'A({% include "b.html" %})', ["b.html"] = 'B({% include "c.html" %})',
                         ["c.html"] = "C{{ x }}" }
      assert.equal("A(B(C1))", l:render("a.html", { x = 1 }))
    end)

    it("refuses an include cycle, naming the chain and the include's line", function()
      local l = loader { ["a.html"] = 'a\n{% include "b.html" %}', ["b.html"] = '\n\nb {% include "a.html" %}' }
      assert.equal("b.html:3: include cycle: a.html -> b.html -> a.html", err_of(l.render, l, "a.html"))
      local self = loader { ["s.html"] = '{% include "s.html" %}' }
      assert.equal("s.html:1: include cycle: s.html -> s.html", err_of(self.render, self, "s.html"))
    end)

    it("says which include is missing, at its line", function()
      local l = loader { ["a.html"] = 'x\n{% include "nope.html" %}' }
      assert.equal("a.html:2: include nope.html: no such template", err_of(l.render, l, "a.html"))
    end)

    it("refuses names that leave the folder", function()
      local l = template.new { root = "/tmp" }
      assert.matches("leaves the template folder", err_of(l.render, l, "../etc/passwd"))
      assert.matches("is not relative", err_of(l.render, l, "/etc/passwd"))
    end)
  end)

  describe("layouts", function()
    local l = loader {
      ["base.html"] = "<title>{% block title %}Site{% endblock %}</title>\n<main>{{{ content }}}</main>\n"
        .. "<footer>{% block footer %}(c){% endblock %}</footer>",
      ["page.html"] = '{% layout "base.html" %}\n{% block title %}{{ name }}{% endblock %}\nHello {{ name }}\n',
      ["plain.html"] = '{% layout "base.html" %}\nbody',
      ["mid.html"] = '{% layout "base.html" %}\n{% block footer %}mid footer{% endblock %}\n[{{{ content }}}]',
      ["deep.html"] = '{% layout "mid.html" %}\n{% block title %}Deep{% endblock %}\ndeep',
      ["c1.html"] = '{% layout "c2.html" %}x',
      ["c2.html"] = '{% layout "c1.html" %}y',
    }

    it("renders the child into the layout's content and blocks", function()
      -- (the newline after the block's line is the child's text: content)
      assert.equal("<title>&lt;Ann&gt;</title>\n<main>\nHello &lt;Ann&gt;\n</main>\n<footer>(c)</footer>",
        l:render("page.html", { name = "<Ann>" }))
    end)

    it("keeps the layout's defaults for blocks the child leaves out", function()
      assert.equal("<title>Site</title>\n<main>body</main>\n<footer>(c)</footer>", l:render("plain.html"))
    end)

    it("chains layouts, the innermost block winning", function()
      assert.equal("<title>Deep</title>\n<main>\n[\ndeep]</main>\n<footer>mid footer</footer>", l:render("deep.html"))
    end)

    it("refuses a layout cycle", function()
      assert.equal("c2.html:1: layout cycle: c1.html -> c2.html -> c1.html", err_of(l.render, l, "c1.html"))
    end)
  end)

  describe("errors name the template file and line", function()
    it("for an unclosed tag", function()
      assert.equal("page.html:3: {{ is not closed (no }} after it)", err_of(compile, "a\nb\nc {{ x ", "page.html"))
      assert.equal("page.html:2: {% is not closed (no %} after it)", err_of(compile, "a\n{% if x then", "page.html"))
      assert.equal("page.html:1: <%= is not closed (no %> after it)", err_of(compile, "<%= x", "page.html"))
    end)

    it("for bad Lua in an expression or a block", function()
      assert.matches("^page%.html:4: ", err_of(compile, "1\n2\n3\n{{ 1 + }}", "page.html"))
      assert.equal("page.html:2: 'end' expected at the end of the template (a block a tag opened is not closed)",
        err_of(compile, "1\n{% if x then %}", "page.html"))
      assert.equal("page.html:2: block title is not closed (no {% endblock %})",
        err_of(compile, "1\n{% block title %}", "page.html"))
      assert.equal("page.html:1: endblock without a block", err_of(compile, "{% endblock %}", "page.html"))
    end)

    it("at run time, after multi-line text, code and standalone tags", function()
      local f = compile("<p>\n  {% for _, u in ipairs(users) do %}\n  <i>{{ u.name }}</i>\n"
        .. "  {% end %}\n</p>\n{{ user.name }}\n", "templates/page.html")
      assert.equal("templates/page.html:6: attempt to index global 'user' (a nil value)",
        err_of(f, { users = { { name = "a" } } }))
      assert.equal("templates/page.html:3: attempt to index local 'u' (a number value)",
        err_of(f, { users = { 1 } }))
    end)

    it("after tags spanning lines", function()
      local l = loader { ["m.html"] = '{% include("p.html",\n  { x = 1 }) %}\n{% layout\n"b.html" %}\n{% local t = {\n} %}\n{{ x.y }}',
                         ["p.html"] = "", ["b.html"] = "{{{ content }}}" }
      assert.equal("m.html:7: attempt to index global 'x' (a nil value)", err_of(l.render, l, "m.html"))
    end)

    it("after a Lua comment in a tag", function()
      local f = compile("{% -- a comment %}\n{{ x.y }}", "c.html")
      assert.equal("c.html:2: attempt to index global 'x' (a nil value)", err_of(f, {}))
    end)

    it("in an included template", function()
      local l = loader { ["a.html"] = 'a {% include "b.html" %}', ["b.html"] = "b\n{{ nope.x }}" }
      assert.equal("b.html:2: attempt to index global 'nope' (a nil value)", err_of(l.render, l, "a.html"))
    end)
  end)

  describe("files", function()
    local dir
    before_each(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. dir .. "/templates/partials") == 0)
    end)
    after_each(function() os.execute("rm -rf " .. dir) end)

    local function write(path, text)
      local f = assert(io.open(dir .. "/" .. path, "w"))
      f:write(text)
      f:close()
    end

    it("reads templates below the root, caches them, and reads them again after clear()", function()
      write("templates/page.html", '[{% include "partials/p.html" %}]')
      write("templates/partials/p.html", "v1 {{ x }}")
      local l = template.new { root = dir .. "/templates" }
      assert.equal("[v1 1]", l:render("page.html", { x = 1 }))
      write("templates/partials/p.html", "v2 {{ x }}")
      assert.equal("[v1 1]", l:render("page.html", { x = 1 }))
      l:clear()
      assert.equal("[v2 1]", l:render("page.html", { x = 1 }))
      local nocache = template.new { root = dir .. "/templates", cache = false }
      assert.equal("[v2 2]", nocache:render("page.html", { x = 2 }))
      write("templates/partials/p.html", "v3 {{ x }}")
      assert.equal("[v3 2]", nocache:render("page.html", { x = 2 }))
    end)

    it("names a missing file", function()
      local l = template.new { root = dir .. "/templates" }
      assert.matches("^template " .. dir:gsub("%p", "%%%0") .. "/templates/nope%.html: not found",
        err_of(l.render, l, "nope.html"))
    end)

    it("get() returns the compiled function", function()
      write("templates/t.html", "{{ a }}")
      local fn = template.new({ root = dir .. "/templates" }):get("t.html")
      assert.equal("&amp;", fn { a = "&" })
    end)
  end)

  it("html() answers text/html", function()
    local res = loader({ ["p.html"] = "<p>{{ x }}</p>" }):html("p.html", { x = 1 }, 201, { ["X-A"] = "b" })
    assert.equal(201, res.status)
    assert.equal("<p>1</p>", res.body)
    assert.equal("text/html; charset=utf-8", res.content_type)
    local r2 = template.response("<p/>", nil, { ["Content-Type"] = "application/xhtml+xml" })
    assert.equal("application/xhtml+xml", r2.content_type)
    assert.equal(200, r2.status)
  end)
end)
