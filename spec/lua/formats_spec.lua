-- crater.formats: the checkers behind JSON Schema's `format`.
local formats = require "crater.formats"

local CASES = {
  { "email", "a.b@example.com", true }, { "email", "a@@b", false }, { "email", ".a@b.c", false },
  { "email", "a..b@c.d", false }, { "email", "a@b", true }, { "email", "a@-b.com", false },
  { "email", "joe.bloggs+tag@example.com", true }, { "email", "a.@b.c", false }, { "email", "@b.c", false }, { "email", "a@b.c.", false },
  { "uuid", "123e4567-e89b-12d3-a456-426614174000", true }, { "uuid", "123e4567e89b12d3a456426614174000", false },
  { "uuid", "123e4567-e89b-12d3-a456-42661417400g", false },
  { "date", "2024-02-29", true }, { "date", "2023-02-29", false }, { "date", "2024-13-01", false },
  { "date", "2024-1-01", false }, { "date", "2000-02-29", true }, { "date", "1900-02-29", false },
  { "date-time", "2024-01-02T03:04:05.5+01:00", true }, { "date-time", "2024-01-02 03:04:05", false },
  { "date-time", "1998-12-31T23:59:60Z", true }, { "date-time", "1998-12-31T23:58:60Z", false },
  { "date-time", "1998-12-31T15:59:60.123-08:00", true }, { "date-time", "2024-01-02T03:04:05Zx", false },
  { "date-time", "2024-01-02T03:04:05.Z", false }, { "date-time", "2024-01-02t03:04:05z", true },
  { "time", "08:30:06Z", true }, { "time", "24:00:00Z", false }, { "time", "08:30:06", false },
  { "hostname", "example.com", true }, { "hostname", "-a.com", false }, { "hostname", "a_b.com", false },
  { "ipv4", "1.2.3.4", true }, { "ipv4", "01.2.3.4", false }, { "ipv4", "1.2.3", false }, { "ipv4", "256.0.0.1", false },
  { "ipv6", "::1", true }, { "ipv6", "1::2::3", false }, { "ipv6", "::ffff:1.2.3.4", true },
  { "ipv6", "1:2:3:4:5:6:7:8", true }, { "ipv6", "1:2:3:4:5:6:7:8:9", false }, { "ipv6", "12345::", false },
  { "uri", "http://x.y/z?q=1#f", true }, { "uri", "x", false }, { "uri", "http://x y", false },
  { "uri", "urn:isbn:0451450523", true }, { "uri-reference", "/a/b?c", true },
  { "duration", "P1Y2M3DT4H5M6S", true }, { "duration", "PT", false }, { "duration", "P1W", true },
  { "duration", "P1D2Y", false }, { "regex", "^a+$", true }, { "regex", "(", false },
  -- RFC 5321: quoted local parts and address literals.
  { "email", '"joe bloggs"@example.com', true }, { "email", '"joe\\"bloggs"@example.com', true },
  { "email", '"a@b"@example.com', true }, { "email", '"unclosed@example.com', false },
  { "email", '"a"b@example.com', false }, { "email", '"\1"@example.com', false },
  { "email", "joe@[127.0.0.1]", true }, { "email", "joe@[IPv6:::1]", true },
  { "email", "joe@[IPv6:2001:db8::1]", true }, { "email", "joe@[300.0.0.1]", false },
  { "email", "joe@[::1]", false }, { "email", "joe@[127.0.0.1", false }, { "email", "joe@", false },
  { "email", ('a'):rep(64) .. "@b.c", true }, { "email", ('a'):rep(65) .. "@b.c", false },
  { "email", "joe@xn--4db.xn--4db", true }, { "email", "joe@xn--X.com", false },
  { "email", "d\195\169j\195\160@example.com", false },
  -- RFC 3986, strictly: every part by its grammar.
  { "uri", "http://[2001:db8::1]:8080/p", true }, { "uri", "http://[v1.x]/", true },
  { "uri", "http://[1::2::3]/", false }, { "uri", "http://h:80x/", false }, { "uri", "http://a@b@c/", false },
  { "uri", "mailto:joe@example.com", true }, { "uri", "http://x/%zz", false }, { "uri", "http://x/a%2", false },
  { "uri", "http://x/\195\169", false }, { "uri", "http://x/a b", false }, { "uri", "http://x/{a}", false },
  { "uri", "http://x/a#b#c", false }, { "uri", "http://x/?a?b#/?", true }, { "uri", "1http://x", false },
  { "uri", "a+b.c-d:rest", true }, { "uri", "http://x/a|b", false }, { "uri", "http://x/[a]", false },
  { "uri", "//x/y", false }, { "uri-reference", "//x/y", true }, { "uri-reference", "a:b:c", true },
  { "iri", "http://\195\169.fr/\195\169", true }, { "iri", "http://x/\238\128\128", false },
  { "iri", "http://x/?\238\128\128", true },
  { "hostname", "xn--4db", true }, { "hostname", "a.xn--4db", true }, { "hostname", "0a.xn--4db", false },
  { "idn-hostname", "\215\144.com", true }, { "idn-hostname", "\215\1440", true },
  -- RFC 5893 rule 6: in a Bidi name, a left-to-right label ends with a letter or digit.
  { "idn-hostname", "\227\129\129\227\131\187", true },
  { "idn-hostname", "\227\129\129\227\131\187.\215\144", false },
  { "uri-template", "/a/{b}{?c,d*}{#e:3}", true }, { "uri-template", "{a", false },
  { "json-pointer", "/a~1b", true }, { "relative-json-pointer", "0#", true },
}

describe("crater.formats", function()
  it("answers a boolean for any bytes, never raises", function()
    math.randomseed(16)
    local alphabet = { "a", "0", "-", ".", ":", "/", "@", "%", "[", "]", "{", "}", "~", "#", "?", '"', "\\",
      "\0", "\195", "\169", "\215\144", "\217\160", "\227\128\130", "\240\159", "xn--", "P", "T", "1" }
    for _ = 1, 3000 do
      local parts = {}
      for k = 1, math.random(0, 12) do parts[k] = alphabet[math.random(#alphabet)] end
      local x = table.concat(parts)
      for name, check in pairs(formats) do
        local ok, r = pcall(check, x)
        assert(ok, ("%s(%q) raised %s"):format(name, x, tostring(r)))
        assert(type(r) == "boolean", ("%s(%q) returned %s"):format(name, x, tostring(r)))
      end
    end
  end)

  it("accepts and refuses as documented", function()
    for _, c in ipairs(CASES) do
      assert(formats[c[1]](c[2]) == c[3], ("%s %q should be %s"):format(c[1], c[2], tostring(c[3])))
    end
  end)
end)
