-- crater.regex: ECMA-262 patterns (the JSON Schema dialect) on UTF-8 text,
-- through each of its engines, against the reference matcher.
local regex = require "crater.regex"

-- { pattern, subject, matches }
local CASES = {
  { "^(ab|cd)+[0-9]{2}$", "abcd12", true }, { "^(ab|cd)+[0-9]{2}$", "abc12", false },
  { "^[0-9]{2}$", "12", true }, { "^[0-9]{2,3}$", "1234", false }, { "^[0-9]{2,3}$", "123", true },
  { "^[0-9]{2,3}$", "1", false }, { "^.$", "é", true }, { "^..$", "é", false }, { "^.+.$", "é", false },
  { "^.+$", "é", true }, { "a.+", "aé", true }, { "^\\d+$", "123", true }, { "^\\s$", "\194\160", true },
  { "^[^a]$", "é", true }, { "^[a-z]+$", "abc", true }, { "^[a-z]+$", "ab1", false }, { "x*?y", "xxy", true },
  { "^(?:a|b)*c$", "ababc", true }, { "^a(?=b)", "ab", true }, { "^a(?!b)", "ab", false },
  { "\\bfoo\\b", "a foo b", true }, { "\\bfoo\\b", "afoob", false }, { "^\\p{Letter}+$", "π", true },
  { "^\\p{Letter}+$", "123", false }, { "^\\P{L}+$", "123", true }, { "^á", "ába", true },
  { "^[é-ë]$", "ê", true }, { "f.o", "foo", true }, { "^(a+)+$", ("a"):rep(40) .. "b", false },
  { "^\\u00e9$", "é", true }, { "^\\u{1F600}$", "😀", true }, { "^\\ud83d\\ude00$", "😀", true },
  { "^[\\w.-]+$", "a.b-c", true }, { "^$", "", true }, { "a{2,}", "aa", true }, { "^a{,2}$", "a{,2}", true },
  { "^.*$", ("é"):rep(20000), true }, { "^[A-Z]{3}-[0-9]{4}$", "ABC-0001", true },
  { "^[A-Z]{3}-[0-9]{4}$", "ABC-001", false }, { "^[A-Z]{3}-[0-9]{4}$", "ABCD-0001", false },
  { "a+", "xxaayy", true }, { "a+", "xxyy", false }, { "^a*$", "aaa", true }, { "^a*$", "abc", false },
  { "^a*ab$", "aaab", true }, { "[0-9]{3}$", "ab1234", true }, { "^x[0-9]?y$", "xy", true },
  { "^x[0-9]?y$", "x5y", true }, { "^x[0-9]?y$", "x55y", false }, { "b*c", "c", true }, { "q", "", false },
  { "", "", true }, { "^a{20}$", ("a"):rep(20), true }, { "^a{20}$", ("a"):rep(19), false },
  { "^a{17,}$", ("a"):rep(30), true }, { "^a{3,}b$", "aab", false }, { "^\\$\\.\\*$", "$.*", true },
  { "^[\\]\\-]+$", "]-]", true }, { "^(a|ab)(c|bcd)(d*)$", "abcd", true }, { "^(a*?)b", "aab", true },
  { "^(a|){2}$", "a", true }, { "^(?:a*){2,3}b$", "aab", true }, { "^(?=(a|){2}$)", "a", true },
  { "^\\x41\\t$", "A\t", true }, { "^.$", "\n", false }, { "^[.]$", "x", false },
}

describe("crater.regex", function()
  it("matches as ECMA-262 does", function()
    for _, c in ipairs(CASES) do
      local re = regex.compile(c[1])
      assert(re.test(c[2]) == c[3], ("/%s/.test(%q) should be %s (engine %s)"):format(c[1], c[2], tostring(c[3]), re.engine))
    end
  end)

  it("gives the same answers with every engine", function()
    for _, c in ipairs(CASES) do
      for _, engine in ipairs({ "nfa", "matcher" }) do
        local re = regex.compile(c[1], engine)
        local slow = engine == "matcher" and c[1] == "^(a+)+$" -- exponential when backtracking
        if not slow and (re.engine == engine or engine == "nfa") then
          assert(re.test(c[2]) == c[3], ("%s: /%s/.test(%q) should be %s"):format(re.engine, c[1], c[2], tostring(c[3])))
        end
      end
    end
  end)

  it("picks the fastest engine that keeps the meaning", function()
    assert.are.equal("bytes", regex.compile("^[A-Z]{3}-[0-9]{4}$").engine)
    assert.are.equal("bytes", regex.compile("a+").engine)
    assert.are.equal("lua", regex.compile("^.+$").engine)
    assert.are.equal("lua", regex.compile("^é[a-z]*\\.").engine)
    assert.are.equal("nfa", regex.compile("^.+.$").engine)     -- '.' next to '.': code points matter
    assert.are.equal("nfa", regex.compile("^(ab|cd)+$").engine)
    assert.are.equal("nfa", regex.compile("^é+$").engine)      -- a quantified multi-byte character
    assert.are.equal("nfa", regex.compile("^a(?=b)").engine)   -- lookahead: tabled by a reverse run
    -- Lua's matcher backtracks: only one-pass patterns go to it.
    assert.are.equal("nfa", regex.compile("^a*ab$").engine)    -- a* may have to give an a back
    assert.are.equal("nfa", regex.compile("^.+@.+$").engine)   -- quadratic on "@@@...@\n"
    assert.are.equal("nfa", regex.compile(".*$").engine)       -- unanchored: one scan per start
    assert.are.equal("nfa", regex.compile("[0-9]+x").engine)   -- the same for the bytes engine
    assert.are.equal("bytes", regex.compile("^[0-9]+x").engine)
  end)

  -- Each of these took seconds to hours before every engine was made linear
  -- (the backtracking matcher for counted groups and lookaheads, Lua's
  -- matcher for ambiguous items, unanchored scans restarted per position).
  -- The bound is generous: a linear engine answers in milliseconds.
  it("answers in linear time for every pattern it accepts", function()
    local cases = {
      { "^(\\w+\\s?){1,1000}$", ("a"):rep(22) .. "!" },
      { "^(\\w+\\s?){1,1000}$", ("ab "):rep(300) .. "!" },
      { "^(\\w+\\s?){1,200}$", ("a"):rep(1000000) .. "!" }, -- 200 state sets, then cached steps
      { "^(?=(a+)+$)", ("a"):rep(5000) .. "b" },
      { "^(?!(a|aa)+$)x", ("a"):rep(5000) },
      { "^(?=.*(a+)+b)(?=.*c).*$", ("a"):rep(3000) },
      { "^a*a*a*a*a*b", ("a"):rep(5000) },
      { "^.+@.+$", ("@"):rep(20000) .. "\n" },
      { "^.*a.*a.*a.*b$", ("a"):rep(5000) },
      { ".*$", ("a"):rep(50000) .. "\n" },
      { "[0-9]+x", ("0"):rep(50000) },
      { "^a{0,20}a{20}$", ("a"):rep(21) .. "b" },
      { "^(a?){25}a{25}$", ("a"):rep(25) },
      { "(x+x+)+y", ("x"):rep(5000) },
    }
    for _, c in ipairs(cases) do
      local re = regex.compile(c[1])
      local t0 = os.clock()
      re.test(c[2])
      local dt = os.clock() - t0
      assert(dt < 0.5, ("/%s/ (%s) took %.2f s on %d bytes"):format(c[1], re.engine, dt, #c[2]))
    end
  end)

  it("refuses a pattern too large to match in bounded time per code point", function()
    local ok, e = pcall(regex.compile, "^(ab|cd){1,5000}$")
    assert(not ok)
    assert(e:find("pattern too large", 1, true) and e:find("/^(ab|cd){1,5000}$/", 1, true), e)
    assert(pcall(regex.compile, "^[0-9]{1,100000}$"))  -- one loop: no states to expand
  end)

  -- The NFA (lookaheads by reverse runs included) against the reference
  -- matcher, on small random patterns and every short subject over {a,b}.
  it("agrees with the reference matcher on random patterns", function()
    local seed = 12345
    local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n + 1 end
    local atoms = { "a", "b", ".", "[ab]", "[^a]", "\\b", "^", "$" }
    local quants = { "", "", "*", "+", "?", "{2}", "{0,2}", "*?" }
    local function pat(depth)
      local out = {}
      for _ = 1, rnd(3) do
        local r = rnd(10)
        if depth < 2 and r == 1 then out[#out + 1] = "(?=" .. pat(depth + 1) .. ")"
        elseif depth < 2 and r == 2 then out[#out + 1] = "(?!" .. pat(depth + 1) .. ")"
        elseif depth < 2 and r <= 4 then
          out[#out + 1] = "(" .. pat(depth + 1) .. "|" .. pat(depth + 1) .. ")" .. quants[rnd(#quants)]
        else
          local a = atoms[rnd(#atoms)]
          local q = quants[rnd(#quants)]
          if a == "^" or a == "$" or a == "\\b" then q = "" end
          out[#out + 1] = a .. q
        end
      end
      return table.concat(out)
    end
    local subjects = { "" }
    for len = 1, 4 do
      for k = 0, 2 ^ len - 1 do
        local t = {}
        for b = 0, len - 1 do t[#t + 1] = math.floor(k / 2 ^ b) % 2 == 0 and "a" or "b" end
        subjects[#subjects + 1] = table.concat(t)
      end
    end
    for _ = 1, 400 do
      local p = pat(0)
      local ref, nfa, best = regex.compile(p, "matcher"), regex.compile(p, "nfa"), regex.compile(p)
      for _, s in ipairs(subjects) do
        local want = ref.test(s)
        assert(nfa.test(s) == want, ("nfa: /%s/.test(%q) should be %s"):format(p, s, tostring(want)))
        assert(best.test(s) == want, ("%s: /%s/.test(%q) should be %s"):format(best.engine, p, s, tostring(want)))
      end
    end
  end)

  it("takes linear time where backtracking would take exponential time", function()
    -- ^(a+)+$ against "aaa...ab" is the classic ReDoS: 2^n steps when backtracking.
    assert.is_false(regex.compile("^(a+)+$").test(("a"):rep(5000) .. "b"))
    assert.is_false(regex.compile("(x+x+)+y").test(("x"):rep(5000)))
    assert.is_true(regex.compile("^(a|aa)+$").test(("a"):rep(5000)))
  end)

  it("refuses what it does not support, naming the offset", function()
    local function fails(p, msg)
      local ok, e = pcall(regex.compile, p)
      assert(not ok, p .. " should fail")
      assert(e:find(msg, 1, true), e)
    end
    fails("(a)\\1", "backreferences (\\1) are not supported")
    fails("(?<=a)b", "lookbehind is not supported")
    fails("\\p{Script=Greek}", "unsupported Unicode property")
    fails("(ab", "missing )")
    fails("ab)", "unmatched )")
    fails("*a", "nothing to repeat at offset 0")
    fails("[b-a]", "range out of order")
    fails("a{3,2}", "numbers out of order")
    fails("\\q", "unknown escape \\q")
  end)
end)

-- Found by spec/fuzz/schema_diff.py: the Lua-pattern engine let '.' match
-- line terminators, so ^.+$ accepted "a\n" where ECMA-262 (and ajv) refuse.
describe("crater.regex, found by differential testing", function()
  it("a dot run by the Lua-pattern engine still leaves out line terminators", function()
    local cases = {
      { ".+$", "Aa-\n", false }, { "^.+$", "a\n", false }, { "^.*$", "a\r", false },
      { "^a.+$", "a\n", false }, { ".+$", "a\nb", true }, { "^.+@.+$", "x@y\r", false },
      { "^.+$", "a\226\128\168", false }, { "^.+$", "a\226\128\169b", false },
      { "^.+$", "a€b", true }, { ".*$", "\n", true },
    }
    for _, c in ipairs(cases) do
      local re = regex.compile(c[1])
      assert(re.test(c[2]) == c[3], c[1] .. " on " .. c[2]:gsub("\n", "\\n"):gsub("\r", "\\r"))
      assert(regex.compile(c[1], "nfa").test(c[2]) == c[3])
    end
    assert.are.equal("lua", regex.compile("^.+$").engine)  -- still the fast engine
  end)
end)
